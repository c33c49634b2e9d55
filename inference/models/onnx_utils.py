"""ONNX helpers shared by the model families."""
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


# ---------------------------------------------------------------- run time

BACKENDS = ("auto", "torch", "onnx")


def onnx_wanted(device: str, onnx_path: Path) -> bool:
    """Whether a model should run in ONNX Runtime rather than torch.

    ``INFERENCE_BACKEND``: ``torch``, ``onnx`` or ``auto`` (the default: ONNX Runtime on
    the CPU when its file is there; torch on a GPU). On this project's 2-core CPU, ONNX
    Runtime runs the three networks in about two thirds of torch's time and holds less
    memory (``python -m inference.bench`` prints both).
    """
    import os

    choice = os.environ.get("INFERENCE_BACKEND", "auto").strip().lower() or "auto"
    if choice not in BACKENDS:
        raise ValueError(f"INFERENCE_BACKEND must be one of {', '.join(BACKENDS)}, not {choice!r}")
    if choice == "torch" or not device.startswith("cpu") or not Path(onnx_path).is_file():
        return False
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


INT8_SUFFIX = ".int8.onnx"  # scalp_yolo.onnx -> scalp_yolo.int8.onnx (inference.models.quantize)
INT8_CHOICES = ("auto", "off")


def int8_path(onnx_path: Path) -> Path:
    p = Path(onnx_path)
    return p.with_name(p.name.removesuffix(".onnx") + INT8_SUFFIX)


def int8_wanted() -> bool:
    """``INFERENCE_INT8``: ``auto`` (the default: the int8 export where one exists) or ``off``."""
    import os

    choice = os.environ.get("INFERENCE_INT8", "auto").strip().lower() or "auto"
    if choice not in INT8_CHOICES:
        raise ValueError(f"INFERENCE_INT8 must be one of {', '.join(INT8_CHOICES)}, not {choice!r}")
    return choice == "auto"


def runtime_onnx(device: str, onnx_path: Path) -> Path | None:
    """The ONNX file the product runs for a network exported to ``onnx_path``: its int8 twin
    where there is one and ``int8_wanted``, else the float export; None where torch runs it
    (``onnx_wanted`` is false)."""
    if not onnx_wanted(device, onnx_path):
        return None
    q = int8_path(onnx_path)
    return q if int8_wanted() and q.is_file() else Path(onnx_path)


class OnnxModule:
    """An ONNX Runtime CPU session called like a torch module: a float tensor in, the first
    output as a tensor out. The pipelines keep their torch pre- and post-processing.

    Example:
        >>> m = OnnxModule("weights/scalp_unet.onnx")   # doctest: +SKIP
        >>> m(torch.zeros(1, 3, 256, 256)).shape        # doctest: +SKIP
        torch.Size([1, 3, 256, 256])
    """

    def __init__(self, path: Path, threads: int | None = None):
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = threads or default_threads()
        so.inter_op_num_threads = 1
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # no busy-waiting between calls: the decode and draw threads need the cores
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        # give activations back after each call instead of keeping the largest batch's arena:
        # the service's memory then follows its load (measured: no cost in latency here)
        so.enable_cpu_mem_arena = False
        self.path = Path(path)
        self.session = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name

    def __call__(self, x):
        """A numpy array in, a numpy array out (the torch-free CPU path); a tensor in, a tensor out."""
        if isinstance(x, np.ndarray):
            return self.session.run(None, {self.input: np.ascontiguousarray(x, dtype=np.float32)})[0]
        import torch

        out = self.session.run(None, {self.input: x.detach().to("cpu", torch.float32).numpy()})[0]
        return torch.from_numpy(out)

    @property
    def metadata(self) -> dict[str, str]:
        return dict(self.session.get_modelmeta().custom_metadata_map)

    def eval(self) -> "OnnxModule":
        return self

    def to(self, *args, **kwargs) -> "OnnxModule":
        return self

    def __repr__(self) -> str:
        return f"OnnxModule({self.path.name})"


THREADS = 0  # set by the service from INFERENCE_THREADS; 0: default_threads()


def default_threads() -> int:
    """torch's default intra-op thread count (the usable cores), without importing torch."""
    import os

    if THREADS > 0:
        return THREADS
    n = int(os.environ.get("OMP_NUM_THREADS") or 0)
    if n > 0:
        return n
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


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
