"""Which file runs a network, and the ONNX Runtime module that runs it on the CPU.

A trained network ships as ``name.pt`` (PyTorch), ``name.onnx`` (its float export) and,
for some, ``name.int8.onnx`` (``inference.models.quantize``). :class:`Backend` says which
of them a loader runs: the service builds it from its settings (``INFERENCE_DEVICE``,
``INFERENCE_BACKEND``, ``INFERENCE_INT8``, ``INFERENCE_THREADS``); training code runs
torch (``Backend.torch``).

Example:
    >>> Backend("cuda").onnx_file(Path("weights/scalp_unet.onnx")) is None   # a GPU runs torch
    True
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

BACKENDS = ("auto", "torch", "onnx")
INT8_SUFFIX = ".int8.onnx"  # scalp_yolo.onnx -> scalp_yolo.int8.onnx


def int8_path(onnx_path: Path) -> Path:
    p = Path(onnx_path)
    return p.with_name(p.name.removesuffix(".onnx") + INT8_SUFFIX)


def usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


@dataclass(frozen=True)
class Backend:
    """Where and how the networks run.

    ``backend``: ``auto`` runs ONNX Runtime on the CPU where the export is there and torch
    on a GPU (on this project's 2-core CPU ONNX Runtime runs the networks in about two
    thirds of torch's time, ``scripts/compare_backends.py``); ``torch`` or ``onnx`` force
    one. ``int8``: the int8 twin of an export where there is one. ``threads``: CPU threads
    per network (0: ``OMP_NUM_THREADS``, else the usable cores, as torch's default).
    """

    device: str = "cpu"
    backend: str = "auto"
    int8: bool = True
    threads: int = 0

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, not {self.backend!r}")

    @classmethod
    def torch(cls, device: str = "cpu") -> Backend:
        """Torch only: what training and its checks run."""
        return cls(device, "torch")

    def onnx_file(self, onnx_path: Path) -> Path | None:
        """The ONNX file that runs for a network exported to ``onnx_path`` (its int8 twin where
        there is one and ``int8``), or None where torch runs the ``.pt`` weights."""
        if self.backend == "torch" or not self.device.startswith("cpu") or not Path(onnx_path).is_file():
            return None
        try:
            import onnxruntime  # noqa: F401
        except ImportError:
            return None
        q = int8_path(onnx_path)
        return q if self.int8 and q.is_file() else Path(onnx_path)

    def cpu_threads(self) -> int:
        if self.threads > 0:
            return self.threads
        n = int(os.environ.get("OMP_NUM_THREADS") or 0)
        return n if n > 0 else usable_cores()

    def module(self, onnx_path: Path) -> OnnxModule | None:
        """The ONNX Runtime module for ``onnx_path`` when it is what runs, else None."""
        path = self.onnx_file(onnx_path)
        return OnnxModule(path, self.cpu_threads()) if path is not None else None


class OnnxModule:
    """An ONNX Runtime CPU session called like a torch module: a numpy array in, the first
    output as a numpy array out (a tensor in, a tensor out, for torch-side callers).

    Example:
        >>> m = OnnxModule("weights/scalp_unet.onnx")   # doctest: +SKIP
        >>> m(np.zeros((1, 3, 256, 256), np.float32)).shape   # doctest: +SKIP
        (1, 3, 256, 256)
    """

    def __init__(self, path: Path, threads: int | None = None):
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = threads or Backend().cpu_threads()
        so.inter_op_num_threads = 1
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # no busy-waiting between calls: the decode and draw threads need the cores
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        # give activations back after each call instead of keeping the largest batch's arena:
        # the service's memory then follows its load
        so.enable_cpu_mem_arena = False
        self.path = Path(path)
        self.session = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name

    def __call__(self, x: Any) -> Any:
        if isinstance(x, np.ndarray):
            return self.session.run(None, {self.input: np.ascontiguousarray(x, dtype=np.float32)})[0]
        import torch

        out = self.session.run(None, {self.input: x.detach().to("cpu", torch.float32).numpy()})[0]
        return torch.from_numpy(out)

    @property
    def metadata(self) -> dict[str, str]:
        return dict(self.session.get_modelmeta().custom_metadata_map)

    def eval(self) -> OnnxModule:
        return self

    def to(self, *args: Any, **kwargs: Any) -> OnnxModule:
        return self

    def __repr__(self) -> str:
        return f"OnnxModule({self.path.name})"
