"""Service settings, from the environment (every field has a default).

=====================  =====================================  ==================
variable               meaning                                default
=====================  =====================================  ==================
INFERENCE_HOST         address to listen on                   127.0.0.1
INFERENCE_PORT         port                                   8090
INFERENCE_DEVICE       torch device (cuda, cuda:1, cpu)       cuda when present
INFERENCE_API_KEY      bearer token for /v1/*; unset = open   (unset)
WEIGHTS_DIR            the trained weights                    weights/
INFERENCE_MAX_BATCH    photos in one forward pass             8
INFERENCE_MAX_WAIT_MS  how long a photo waits for company     10
INFERENCE_MAX_QUEUE    photos waiting; more answer 503 busy   64
INFERENCE_THREADS      torch CPU threads (0 = torch default)  0
INFERENCE_IO_THREADS   threads decoding and drawing photos    4
INFERENCE_WORKERS      service processes on the port          1
=====================  =====================================  ==================
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from inference.paths import weights_dir


def default_device() -> str:
    """"cuda" when torch sees a GPU, else "cpu". Without an NVIDIA device node there is no
    GPU to find, and torch (500 MB of memory) is not even imported: the CPU service runs
    its models in ONNX Runtime."""
    if not any(os.path.exists(p) for p in ("/dev/nvidiactl", "/dev/nvidia0", "/dev/dxg")):
        return "cpu"
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8090
    device: str | None = None  # None: cuda when present, else cpu
    api_key: str | None = None
    weights: Path = field(default_factory=weights_dir)
    max_batch: int = 8
    max_wait_ms: float = 10.0
    max_queue: int = 64
    threads: int = 0
    io_threads: int = 4
    workers: int = 1  # processes sharing the port (workers.py)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides) -> "Settings":
        e = os.environ if env is None else env
        s = cls(
            host=e.get("INFERENCE_HOST") or cls.host,
            port=int(e.get("INFERENCE_PORT") or cls.port),
            device=e.get("INFERENCE_DEVICE") or None,
            api_key=e.get("INFERENCE_API_KEY") or None,
            weights=Path(e["WEIGHTS_DIR"]) if e.get("WEIGHTS_DIR") else weights_dir(),
            max_batch=int(e.get("INFERENCE_MAX_BATCH") or cls.max_batch),
            max_wait_ms=float(e.get("INFERENCE_MAX_WAIT_MS") or cls.max_wait_ms),
            max_queue=int(e.get("INFERENCE_MAX_QUEUE") or cls.max_queue),
            threads=int(e.get("INFERENCE_THREADS") or cls.threads),
            io_threads=int(e.get("INFERENCE_IO_THREADS") or cls.io_threads),
            workers=int(e.get("INFERENCE_WORKERS") or cls.workers),
        )
        return s.replace(**{k: v for k, v in overrides.items() if v is not None})

    def replace(self, **changes) -> "Settings":
        import dataclasses

        return dataclasses.replace(self, **changes)

    def resolved_device(self) -> str:
        return self.device or default_device()
