"""Writing ONNX files: fp16 weight storage and metadata (training and quantisation only)."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def store_weights_fp16(path: Path) -> None:
    """Store the float32 weights of an ONNX file in float16, cast back at load.

    Weights-only compression: the file halves, the arithmetic stays float32 on
    every runtime (CPU kernels for fp16 convolutions are slow or missing).
    """
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(path))
    graph = model.graph
    inits, casts = [], []
    for init in graph.initializer:
        arr = numpy_helper.to_array(init)
        if arr.dtype != np.float32 or arr.size < 16:
            inits.append(init)
            continue
        h = numpy_helper.from_array(arr.astype(np.float16), init.name + "__fp16")
        inits.append(h)
        casts.append(helper.make_node("Cast", [h.name], [init.name], to=onnx.TensorProto.FLOAT))
    del graph.initializer[:]
    graph.initializer.extend(inits)
    for i, node in enumerate(casts):
        graph.node.insert(i, node)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def add_metadata(path: Path, props: dict[str, str]) -> None:
    """Write ``props`` into an ONNX file's metadata_props (replacing the same keys)."""
    import onnx

    model = onnx.load(str(path))
    keep = [p for p in model.metadata_props if p.key not in props]
    del model.metadata_props[:]
    model.metadata_props.extend(keep)
    for k, v in props.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = k, v
    onnx.save(model, str(path))
