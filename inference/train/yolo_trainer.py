"""Fine-tune an Ultralytics YOLO detector on a folder in YOLO format."""
from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("YOLO_OFFLINE", "1")

from inference.models.onnx_export import store_weights_fp16  # noqa: E402  # never reach the network (no hub, no fonts, no AMP-check weights)


@dataclass
class YoloTrainConfig:
    imgsz: int = 320
    epochs: int = 40
    batch: int = 16
    device: str = "cpu"
    seed: int = 0
    workers: int = 2
    patience: int = 100
    lr0: float = 0.01
    cos_lr: bool = True
    close_mosaic: int = 5
    mosaic: float = 1.0
    degrees: float = 0.0
    fliplr: float = 0.5
    flipud: float = 0.5  # photos of the crown arrive in every orientation
    cache: bool | str = "ram"
    scale: float = 0.5  # random zoom range (Ultralytics' default)
    time: float | None = None  # hours: train for this wall time instead of ``epochs`` (the schedule adapts)
    val: bool = True  # validate every epoch (False: only after the last one)


def write_data_yaml(root: Path, names: tuple[str, ...], train: str = "images/train", val: str = "images/val") -> Path:
    p = root / "data.yaml"
    lines = [f"path: {root.resolve()}", f"train: {train}", f"val: {val}", "names:"]
    lines += [f"  {i}: {n}" for i, n in enumerate(names)]
    p.write_text("\n".join(lines) + "\n")
    return p


def _offline_patches() -> None:
    """Two things Ultralytics' trainer does that need what an offline machine lacks:
    - it reads results.csv with polars only to store a summary in the checkpoint; where
      polars is not installed (the GPU machines here), store none;
    - its AMP check downloads a model to compare fp16 with fp32; offline, trust CUDA's AMP
      (the check exists for old GPUs; the cards used here are Hopper)."""
    from ultralytics.engine import trainer

    try:
        import polars  # noqa: F401
    except ImportError:
        trainer.BaseTrainer.read_results_csv = lambda self: {}
    trainer.check_amp = lambda model: True


def train_yolo(data_yaml: Path, start: Path, out_dir: Path, tc: YoloTrainConfig, name: str = "run",
               checkpoint: str = "best") -> Path:
    """Train from ``start`` and return the path of the chosen checkpoint (copied to ``out_dir/best.pt``):
    ``best`` (Ultralytics' fitness on the val set) or ``last`` (the end of the schedule: for a
    cross-fitted detector, whose val set is the fold it will grade, so nothing is chosen on it)."""
    if checkpoint not in ("best", "last"):
        raise ValueError(f"checkpoint must be 'best' or 'last', not {checkpoint!r}")
    from ultralytics import YOLO

    _offline_patches()
    model = YOLO(str(start))
    extra = {"time": tc.time} if tc.time else {}
    with torch_threads_kept():
        _train(model, data_yaml, out_dir, tc, name, extra)
    best = out_dir / name / "weights" / f"{checkpoint}.pt"
    if not best.exists():
        best = out_dir / name / "weights" / "last.pt"
    shutil.copy(best, out_dir / "best.pt")
    return out_dir / "best.pt"


@contextmanager
def torch_threads_kept():
    """Ultralytics' device selection (training, export) sets torch to one thread fewer than
    the cores on a CPU and leaves it so: on 2 cores every later stage of a training run
    ran on one thread (the grade CNN took 45 minutes instead of 24). This puts it back."""
    import torch

    threads = torch.get_num_threads()
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _train(model, data_yaml: Path, out_dir: Path, tc: YoloTrainConfig, name: str, extra: dict) -> None:
    model.train(
        data=str(data_yaml),
        imgsz=tc.imgsz,
        epochs=tc.epochs,
        batch=tc.batch,
        device=tc.device,
        seed=tc.seed,
        deterministic=True,
        workers=tc.workers,
        patience=tc.patience,
        lr0=tc.lr0,
        cos_lr=tc.cos_lr,
        close_mosaic=tc.close_mosaic,
        mosaic=tc.mosaic,
        degrees=tc.degrees,
        fliplr=tc.fliplr,
        flipud=tc.flipud,
        cache=tc.cache,
        scale=tc.scale,
        project=str(out_dir.resolve()),
        name=name,
        exist_ok=True,
        plots=False,
        amp=tc.device != "cpu",
        verbose=False,
        val=tc.val,
        **extra,
    )


def slim_checkpoint(src: Path, dst: Path, meta: dict | None = None) -> Path:
    """Keep only the fp16 model and what loading needs (drops optimizer, EMA, results)."""
    import torch

    ckpt = torch.load(src, map_location="cpu", weights_only=False)
    model = ckpt.get("ema") or ckpt["model"]
    keep = {
        "model": model.half(),
        "train_args": ckpt.get("train_args", {}),
        "date": ckpt.get("date"),
        "version": ckpt.get("version"),
        "project_meta": meta or {},
    }
    dst.parent.mkdir(parents=True, exist_ok=True)
    torch.save(keep, dst)
    return dst


def export_onnx(weights: Path, imgsz: int, dst: Path) -> Path:
    """ONNX export with a dynamic batch axis (for batched inference)."""
    from ultralytics import YOLO

    with torch_threads_kept():
        out = YOLO(str(weights)).export(format="onnx", imgsz=imgsz, dynamic=True, simplify=False, half=False, opset=17,
                                        verbose=False)
    shutil.move(out, dst)
    store_weights_fp16(dst)
    return dst
