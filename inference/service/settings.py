"""Service settings, from the environment (every field has a default).

=====================  =====================================  ==================
variable               meaning                                default
=====================  =====================================  ==================
INFERENCE_HOST         address to listen on                   127.0.0.1
INFERENCE_PORT         port                                   8090
INFERENCE_DEVICE       torch device (cuda, cuda:1, cpu)       cuda when present
INFERENCE_BACKEND      auto / torch / onnx                    auto
INFERENCE_INT8         auto (int8 twins on the CPU) / off     auto
INFERENCE_API_KEY      bearer token for /v1/*; unset = open   (unset)
WEIGHTS_DIR            the trained weights                    ./weights
INFERENCE_MAX_BATCH    photos in one forward pass             8
INFERENCE_MAX_WAIT_MS  how long a photo waits for company     10
INFERENCE_MAX_QUEUE    photos waiting; more answer 503 busy   64
INFERENCE_THREADS      CPU threads per network (0: default)   0
INFERENCE_IO_THREADS   threads decoding and drawing photos    4
INFERENCE_WORKERS      service processes on the port          1
INFERENCE_DECODE_MB    MB of image decoding in flight at      512
                       once (budget.py); more waits
=====================  =====================================  ==================

``WEIGHTS_DIR`` is the one place the weights are found: unset, the ``weights`` folder of
the working directory (the images' ``/app``, a checkout's root).
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

from inference.models.onnx_runtime import BACKENDS, Backend

from .budget import DEFAULT_DECODE_BUDGET, MB

DEFAULT_WEIGHTS = Path("weights")
INT8_CHOICES = ("auto", "off")


class SettingsError(ValueError):
    """A variable has a value the service cannot use."""


def default_device() -> str:
    """"cuda" when torch sees a GPU, else "cpu". Without an NVIDIA device node there is no
    GPU to find, and torch (hundreds of MB of memory: CHANGELOG.md, 2026-11-26) is not even
    imported: the CPU service runs its models in ONNX Runtime."""
    if not any(os.path.exists(p) for p in ("/dev/nvidiactl", "/dev/nvidia0", "/dev/dxg")):
        return "cpu"
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _choice(env: os._Environ[str] | dict[str, str], name: str, choices: tuple[str, ...]) -> str:
    value = (env.get(name) or "auto").strip().lower()
    if value not in choices:
        raise SettingsError(f"{name} must be one of {', '.join(choices)}, not {value!r}")
    return value


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8090
    device: str | None = None  # None: cuda when present, else cpu
    backend: str = "auto"  # auto / torch / onnx (inference.models.onnx_runtime.Backend)
    int8: bool = True  # the int8 twins where there are some (INFERENCE_INT8=auto)
    api_key: str | None = None
    weights: Path = DEFAULT_WEIGHTS
    max_batch: int = 8
    max_wait_ms: float = 10.0
    max_queue: int = 64
    threads: int = 0
    io_threads: int = 4
    workers: int = 1  # processes sharing the port (workers.py)
    decode_budget_mb: int = DEFAULT_DECODE_BUDGET // MB  # per process: decodes beyond it wait (budget.py)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides) -> Settings:
        e = os.environ if env is None else env
        s = cls(
            host=e.get("INFERENCE_HOST") or cls.host,
            port=int(e.get("INFERENCE_PORT") or cls.port),
            device=e.get("INFERENCE_DEVICE") or None,
            backend=_choice(e, "INFERENCE_BACKEND", BACKENDS),
            int8=_choice(e, "INFERENCE_INT8", INT8_CHOICES) == "auto",
            api_key=e.get("INFERENCE_API_KEY") or None,
            weights=Path(e.get("WEIGHTS_DIR") or DEFAULT_WEIGHTS),
            max_batch=int(e.get("INFERENCE_MAX_BATCH") or cls.max_batch),
            max_wait_ms=float(e.get("INFERENCE_MAX_WAIT_MS") or cls.max_wait_ms),
            max_queue=int(e.get("INFERENCE_MAX_QUEUE") or cls.max_queue),
            threads=int(e.get("INFERENCE_THREADS") or cls.threads),
            io_threads=int(e.get("INFERENCE_IO_THREADS") or cls.io_threads),
            workers=int(e.get("INFERENCE_WORKERS") or cls.workers),
            decode_budget_mb=int(e.get("INFERENCE_DECODE_MB") or cls.decode_budget_mb),
        )
        if s.decode_budget_mb < 1:
            raise SettingsError("INFERENCE_DECODE_MB must be at least 1")
        return s.replace(**{k: v for k, v in overrides.items() if v is not None})

    def replace(self, **changes) -> Settings:
        return dataclasses.replace(self, **changes)

    def resolved_device(self) -> str:
        return self.device or default_device()

    @property
    def decode_budget(self) -> int:
        """The decode budget in bytes."""
        return self.decode_budget_mb * MB

    def runtime(self) -> Backend:
        """Where and how the networks run (``inference.models.onnx_runtime.Backend``)."""
        return Backend(self.resolved_device(), self.backend, self.int8, self.threads)
