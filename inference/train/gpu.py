"""Train the detectors (and the lesion U-Net) on a lent GPU machine, where ``../shared`` does not travel.

The GPU machines of this workplace receive only the working tree (64 MiB in all). So the
label sets that ``python -m inference.train scalp|face`` builds here are packed into an
ignored folder (WebP copies of the photos, the YOLO label files, the two pretrained
starts), trained there under a wall-time budget, and the checkpoints come back to finish
the pipelines here (calibration, grader, router, exports, evaluation)::

    python -m inference.train.gpu pack                       # here: .devdata/ (about 40 MB)
    # there (the device tool; carry .devdata and .whl):
    scripts/device_train.sh                                  # writes checkpoints and logs to $OUT
    # here again:
    python -m inference.train face  --detector OUT/face_yolo.pt --segmenter OUT/face_unet.pt
    python -m inference.train scalp --reuse-round1 --detector OUT/scalp_yolo.pt --segmenter weights/scalp_unet.pt

The scalp detector cross-fitted (``scripts/device_scalp_cv.sh``: one detector per person
fold of ``.devdata/scalp/folds.json`` and one on every photo, in parallel), then here::

    python -m inference.train scalp --reuse-round1 --detector-folds 5 --fold-detectors OUT \
        --detector OUT/scalp_yolo.pt --segmenter weights/scalp_unet.pt

On a machine with a GPU *and* the data, ``python -m inference.train face --device cuda
--epochs 150 --batch 32`` does all of it in one command; this module only exists because
the data cannot travel here.

Example (a tiny CPU run, as the tests do)::

    python -m inference.train.gpu pack --out /tmp/dev --limit 8
    python -m inference.train.gpu yolo --data /tmp/dev/face --imgsz 64 --epochs 1 --device cpu \
        --out /tmp/dev/out --name face_yolo
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import sys
import time
from pathlib import Path

from inference.datasets import AcneRow, read_acne_index
from inference.train.shared import shared_dir

PACK_DIR = Path(".devdata")
WEBP_QUALITY = 75  # PSNR about 39 dB against the original JPEGs; ACNE04 + scalp_uze train in about 30 MB
YOLO_START = "yolo_start.pt"  # yolov5nu_coco_backbone-neck.pt, renamed so Ultralytics never looks it up by name
ENCODER_START = "mobilenet_v2_fp16.pth"


# ---------------------------------------------------------------- pack (here)

def _webp(src: Path, dst: Path, quality: int) -> None:
    import cv2

    img = cv2.imread(str(src), cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError(f"unreadable image: {src}")
    dst.parent.mkdir(parents=True, exist_ok=True)
    ok, buf = cv2.imencode(".webp", img, [cv2.IMWRITE_WEBP_QUALITY, quality])
    if not ok:
        raise ValueError(f"WebP encoding failed: {src}")
    dst.write_bytes(buf.tobytes())


def pack_face(shared: Path, out: Path, quality: int, limit: int = 0, seed: int = 0) -> dict:
    """ACNE04 train split as the face training splits it: ``train`` (fit) and ``val`` (calibration fold)."""
    from .face import labels as L

    rows = read_acne_index(shared / "datasets/acne04", "train")
    if limit:
        rows = rows[:limit]
    calib = L.calibration_split(rows, L.CALIB_FRACTION, seed)
    counts = {"train": 0, "val": 0}
    for r in rows:
        part = "val" if r.filename in calib else "train"
        _webp(r.image, out / "images" / part / (r.image.stem + ".webp"), quality)
        lab = out / "labels" / part / (r.image.stem + ".txt")
        lab.parent.mkdir(parents=True, exist_ok=True)
        lab.write_text(L.one_class_label(r.label))
        counts[part] += 1
    (out / "names.json").write_text(json.dumps(list(L.DETECTOR_NAMES)))
    return counts


def pack_scalp(yolo_dir: Path, out: Path, quality: int, limit: int = 0, folds: dict[str, int] | None = None) -> dict:
    """The scalp YOLO set that ``inference.train scalp`` built (``build/scalp/yolo``: head boxes classed by grade),
    and each photo's person fold (``folds.json``, file stem -> fold) for the cross-fitted detectors."""
    import yaml

    if not (yolo_dir / "data.yaml").exists():
        raise FileNotFoundError(f"{yolo_dir}/data.yaml: run `python -m inference.train scalp` here first "
                                "(it builds the labels)")
    names = yaml.safe_load((yolo_dir / "data.yaml").read_text())["names"]
    counts = {}
    for part in ("train", "val"):
        imgs = sorted((yolo_dir / "images" / part).iterdir())
        if limit:
            imgs = imgs[:limit]
        for img in imgs:
            if (out / "images" / "train" / (img.stem + ".webp")).exists():
                continue  # a cross-fitted set validates on photos it also trains on
            _webp(img, out / "images" / part / (img.stem + ".webp"), quality)
            lab = out / "labels" / part / (img.stem + ".txt")
            lab.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(yolo_dir / "labels" / part / (img.stem + ".txt"), lab)
        counts[part] = len(list((out / "images" / part).glob("*.webp")))
    (out / "names.json").write_text(json.dumps([names[i] for i in sorted(names)]))
    if folds is not None:
        packed = sorted(p.stem for p in (out / "images").glob("*/*.webp"))
        missing = [s for s in packed if s not in folds]
        if missing:
            raise ValueError(f"{len(missing)} packed photos have no fold (e.g. {missing[0]}): "
                             "is build/scalp/yolo from this data?")
        (out / "folds.json").write_text(json.dumps({s: folds[s] for s in packed}, indent=0))
        counts["folds"] = len(set(folds[s] for s in packed))
    return counts


def pack(args: argparse.Namespace) -> dict:
    import torch

    from .common import IMAGENET_ENCODER

    shared, out = Path(args.shared), Path(args.out)
    if out.exists():
        shutil.rmtree(out)
    pre = out / "pretrained"
    pre.mkdir(parents=True)
    shutil.copy(shared / "pretrained/yolov5nu_coco_backbone-neck.pt", pre / YOLO_START)
    enc = torch.load(shared / IMAGENET_ENCODER, map_location="cpu", weights_only=True)
    # the U-Net uses the features only: drop the ImageNet classifier, store fp16 (14.2 MB -> about 4.5 MB)
    features = {k: v for k, v in enc.items() if not k.startswith("classifier.")}
    torch.save({k: (v.half() if v.is_floating_point() else v) for k, v in features.items()}, pre / ENCODER_START)
    if args.font:  # the Korean font for drawing the annotated image (GPU benchmark), without its 9.6 MB wheel
        import importlib.resources

        from inference.pipeline.common.draw import FONT_PACKAGE

        site = out / "site" / FONT_PACKAGE
        site.mkdir(parents=True)
        (site / "__init__.py").write_text("")
        font = importlib.resources.files(FONT_PACKAGE).joinpath("NotoSansKR-Regular.otf")
        (site / "NotoSansKR-Regular.otf").write_bytes(font.read_bytes())
    from .scalp.splits import detector_folds
    from .segdata import read_scalp_index

    train_rows = [r for r in read_scalp_index(shared / "datasets/scalp_uze") if r["split"] == "train"]
    folds = {Path(f).stem: k for f, k in detector_folds(train_rows, args.folds, args.seed).items()}
    report = {"face": pack_face(shared, out / "face", args.quality, args.limit),
              "scalp": pack_scalp(Path(args.build) / "scalp" / "yolo", out / "scalp", args.quality, args.limit, folds)}
    report["mb"] = round(sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) / 1e6, 1)
    return report


# ---------------------------------------------------------------- train (there)

def _data_yaml(root: Path) -> Path:
    from .yolo_trainer import write_data_yaml

    return write_data_yaml(root.resolve(), tuple(json.loads((root / "names.json").read_text())))


def _results_rows(run_dir: Path) -> list[dict]:
    """Ultralytics' results.csv, one dict per epoch (none when the run wrote no file)."""
    path = run_dir / "results.csv"
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return [{k.strip(): v.strip() for k, v in r.items()} for r in csv.DictReader(f)]


def _results(run_dir: Path) -> dict:
    """Last and best rows of Ultralytics' results.csv (validation = the calibration fold)."""
    rows = _results_rows(run_dir)
    if not rows:
        return {}
    key = "metrics/mAP50(B)"
    best = max(rows, key=lambda r: float(r.get(key) or 0))
    pick = ("epoch", "metrics/precision(B)", "metrics/recall(B)", "metrics/mAP50(B)", "metrics/mAP50-95(B)")
    return {"epochs": len(rows), "last": {k: rows[-1].get(k) for k in pick},
            "best_map50": {k: best.get(k) for k in pick}}


def fold_view(data: Path, fold: int, dst: Path) -> tuple[Path, list[str], int]:
    """A packed set seen as one cross-fitting fold (symlinks under ``dst``, so concurrent runs
    keep their own label caches): train on the photos of every other fold, validate on this
    one's. ``fold`` -1: train on every photo (the shipped detector), validate on fold 0 only
    because Ultralytics wants a val set. Returns the data.yaml, the held-out stems and the number of folds."""
    folds = json.loads((data / "folds.json").read_text())
    photos = {p.stem: p for p in sorted((data / "images").glob("*/*.webp"))}
    held = sorted(s for s, k in folds.items() if k == fold)
    val = held if fold >= 0 else sorted(s for s, k in folds.items() if k == 0)
    train = sorted(s for s in folds if s not in held)
    if not val or not train:
        raise ValueError(f"fold {fold} leaves nothing to train on or to validate with "
                         f"({len(train)} / {len(val)} photos)")
    if dst.exists():
        shutil.rmtree(dst)
    for part, stems in (("train", train), ("val", val)):
        for s in stems:
            img = photos[s]
            for kind, src in (("images", img), ("labels", data / "labels" / img.parent.name / (s + ".txt"))):
                link = dst / kind / part / src.name
                link.parent.mkdir(parents=True, exist_ok=True)
                link.symlink_to(src.resolve())
    (dst / "names.json").write_text((data / "names.json").read_text())
    return _data_yaml(dst), held, len(set(folds.values()))


def _encoder(path: Path) -> dict:
    """A packed encoder state (fp16 on disk) in float32."""
    import torch

    state = torch.load(path, map_location="cpu", weights_only=True)
    return {k: v.float() if v.is_floating_point() else v for k, v in state.items()}


def _curve(run_dir: Path) -> list[list[float]]:
    """Per epoch: the val set's mAP50 and mAP50-95 (a cross-fitted fold's held-out people)."""
    return [[round(float(r.get("metrics/mAP50(B)") or 0), 4), round(float(r.get("metrics/mAP50-95(B)") or 0), 4)]
            for r in _results_rows(run_dir)]


def yolo(args: argparse.Namespace) -> dict:
    from .common import device_description, pick_device
    from .scalp.detector import fold_meta
    from .yolo_trainer import YoloTrainConfig, slim_checkpoint, train_yolo

    device = pick_device(args.device)
    meta = {}
    if args.fold is None:
        data = _data_yaml(Path(args.data))
    else:
        data, held, n = fold_view(Path(args.data), args.fold, Path(args.runs) / args.name / "data")
        meta = fold_meta(args.fold if args.fold >= 0 else "all", n, args.fold_seed, held)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    runs = Path(args.runs)
    tc = YoloTrainConfig(imgsz=args.imgsz, epochs=args.epochs, batch=args.batch,
                         device="0" if device == "cuda" else device, seed=args.seed, workers=args.workers,
                         mosaic=args.mosaic, close_mosaic=args.close_mosaic, flipud=args.flipud, scale=args.scale,
                         time=(args.minutes / 60) if args.minutes else None, cache="ram", val=args.val)
    t0 = time.time()
    start = Path(args.start) if args.start else Path(args.data).parent / "pretrained" / YOLO_START
    best = train_yolo(data, start, runs / args.name, tc, checkpoint=args.checkpoint)
    classes = json.loads((Path(args.data) / "names.json").read_text())
    dst = slim_checkpoint(best, out / f"{args.name}.pt",
                          meta={"classes": classes, "trained_on": device_description(device), **meta})
    return {"name": args.name, "seconds": round(time.time() - t0, 1), "device": device_description(device),
            "weights": str(dst), "config": tc.__dict__, "checkpoint": args.checkpoint, "fold": args.fold,
            "held_out": len(meta.get("held_out", ())), "calibration_fold": _results(runs / args.name / "run"),
            "per_epoch": _curve(runs / args.name / "run")}


def unet(args: argparse.Namespace) -> dict:
    from inference.models.unet import UNetConfig, save_unet

    from .common import device_description, pick_device, seed_everything
    from .face import labels as L
    from .unet_trainer import UNetTrainConfig, train_unet

    device = pick_device(args.device)
    seed_everything(args.seed)
    root = Path(args.data)
    rows = [AcneRow("train", img.name, img, root / "labels" / "train" / (img.stem + ".txt"), 0, "LOW", 0)
            for img in sorted((root / "images" / "train").iterdir())]
    enc = _encoder(args.encoder or root.parent / "pretrained" / ENCODER_START)
    cfg = UNetConfig(L.LESION_CLASSES, image_size=args.seg_infer_size)
    tc = UNetTrainConfig(size=args.seg_size, steps=args.steps, device=device, seed=args.seed, lr=2e-3, batch=args.batch,
                         max_seconds=args.minutes * 60 if args.minutes else None, log_every=100)
    t0 = time.time()
    net = train_unet(cfg, [(L.tile_samples(rows, args.seg_tile), 1.0)], tc, encoder_state=enc)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    save_unet(out / f"{args.name}.pt", cfg, net.cpu(), half=True,
              meta={"trained": time.strftime("%Y-%m-%d"), "data": "acne04 box ellipses (academic use only)",
                    "tile": args.seg_tile, "trained_on": device_description(device)})
    return {"name": args.name, "seconds": round(time.time() - t0, 1), "device": device_description(device),
            "photos": len(rows), "config": {k: v for k, v in tc.__dict__.items()}}


CROPS_PACK = 448  # px: packed head crops (any --size up to 392 keeps its 256/224 margin for random crops)


def pack_crops(args: argparse.Namespace) -> dict:
    """Here: the detected head crop of every scalp_uze train photo (the shipped detector and
    U-Net, as ``inference.train scalp`` cuts them for the grade CNN), JPEG, with its grade
    and person group (``scalp_crops/index.json``), for ``grade-cnn`` on a GPU machine."""
    import cv2

    from .common import read_rgb
    from .scalp.chain import face_finder, load_chain
    from .scalp.splits import group_of
    from .segdata import read_scalp_index

    rows = [r for r in read_scalp_index(Path(args.shared) / "datasets/scalp_uze") if r["split"] == "train"]
    if args.limit:
        rows = rows[: args.limit]
    face_free = args.crops == "face-free"
    models = load_chain(Path(args.weights), "cpu", faces=face_finder(Path(args.shared)) if face_free else None)
    out = Path(args.out) / "scalp_crops"
    if out.exists():
        shutil.rmtree(out)
    (out / "crops").mkdir(parents=True)
    index = []
    for i in range(0, len(rows), 8):
        chunk = rows[i : i + 8]
        imgs = [read_rgb(r["path"]) for r in chunk]
        for r, c in zip(chunk, models.cnn_crops(imgs, face_free)):
            name = f"{len(index):04d}.jpg"
            c = cv2.resize(c, (CROPS_PACK, CROPS_PACK), interpolation=cv2.INTER_AREA)
            cv2.imwrite(str(out / "crops" / name), cv2.cvtColor(c, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])
            index.append({"file": r["filename"], "grade": r["grade3"], "norwood": r["norwood_level"],
                          "group": group_of(r["filename"]), "crop": name, "face_free": face_free})
    (out / "index.json").write_text(json.dumps(index))
    return {"crops": len(index), "mb": round(sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) / 1e6, 1)}


def grade_cnn(args: argparse.Namespace) -> dict:
    """There: the grade CNN's cross-fitting and shipped network (``scalp.grade_cnn.fit_and_report``,
    as ``inference.train scalp`` runs it) on packed crops; writes NAME.pt and NAME_oof.json
    (the out-of-fold probabilities by file name, the format of build/scalp/grade_cnn_oof.json)."""
    import numpy as np
    import torch

    from inference.models.classifier import save_classifier
    from inference.types import GRADES

    from .common import device_description, pick_device, read_rgb, seed_everything
    from .scalp import grade_cnn as G

    device = pick_device(args.device)
    seed_everything(args.seed)
    root = Path(args.data)
    index = json.loads((root / "index.json").read_text())
    crops = G.store_crops([read_rgb(root / "crops" / e["crop"]) for e in index], args.size)
    y = np.array([GRADES.index(e["grade"]) for e in index])
    groups = np.array([e["group"] for e in index])
    enc = _encoder(args.encoder or root.parent / "pretrained" / ENCODER_START)
    # the packed start has no ImageNet head; the CNN replaces it
    enc.setdefault("classifier.1.weight", torch.zeros(1000, 1280))
    enc.setdefault("classifier.1.bias", torch.zeros(1000))
    cfg = G.GradeCNNConfig(epochs=args.epochs, folds=args.folds, seed=args.seed, device=device, size=args.size,
                           lr=args.lr, target=args.target)
    y_train = np.array([G.NORWOOD_LEVELS.index(e["norwood"]) for e in index]) if args.target == "norwood" else y
    t0 = time.time()
    net, cj, report, oof = G.fit_and_report(crops, y, groups, cfg, enc, y_train=y_train,
                                            trained_on=device_description(device),
                                            face_free=bool(index and index[0].get("face_free")))
    report["seconds"] = round(time.time() - t0, 1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    save_classifier(out / f"{args.name}.pt", net.cpu(), cj)
    (out / f"{args.name}_oof.json").write_text(json.dumps({"report": report, "oof": {
        e["file"]: [round(float(v), 6) for v in p] for e, p in zip(index, oof)}}))
    return {"name": args.name} | report


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m inference.train.gpu", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    k = sub.add_parser("pack", help="here: pack the YOLO sets and starts into .devdata/")
    k.add_argument("--shared", default=str(shared_dir()))
    k.add_argument("--build", default="build")
    k.add_argument("--out", default=str(PACK_DIR))
    k.add_argument("--quality", type=int, default=WEBP_QUALITY)
    k.add_argument("--limit", type=int, default=0, help="photos per part (smoke tests)")
    k.add_argument("--font", action=argparse.BooleanOptionalAction, default=True,
                   help="pack the Korean font (for the GPU benchmark)")
    k.add_argument("--folds", type=int, default=5,
                   help="scalp person folds written to scalp/folds.json (as --detector-folds)")
    k.add_argument("--seed", type=int, default=0, help="fold seed (as inference.train scalp --seed)")
    y = sub.add_parser("yolo", help="there: fine-tune YOLO on a packed set")
    y.add_argument("--data", required=True, help="a packed set (.devdata/face or .devdata/scalp)")
    y.add_argument("--start", default=None, help=f"default: DATA/../pretrained/{YOLO_START}")
    y.add_argument("--name", required=True, help="checkpoint name (OUT/NAME.pt)")
    y.add_argument("--imgsz", type=int, default=640)
    y.add_argument("--epochs", type=int, default=150)
    y.add_argument("--minutes", type=float, default=0, help="wall-time budget (the cosine schedule adapts); 0: epochs")
    y.add_argument("--batch", type=int, default=32)
    y.add_argument("--scale", type=float, default=0.5)
    y.add_argument("--mosaic", type=float, default=1.0)
    y.add_argument("--close-mosaic", type=int, default=10)
    y.add_argument("--flipud", type=float, default=0.0)
    y.add_argument("--workers", type=int, default=4)
    y.add_argument("--runs", default="/tmp/yolo_runs")
    y.add_argument("--fold", type=int, default=None,
                   help="cross-fitting: train without this fold of DATA/folds.json and validate on it "
                        "(-1: train on every photo)")
    y.add_argument("--fold-seed", type=int, default=0,
                   help="the seed that made folds.json (recorded in the checkpoint)")
    y.add_argument("--checkpoint", choices=("best", "last"), default="best",
                   help="best: Ultralytics' fitness on the val set; last: the schedule's end (cross-fitting)")
    y.add_argument("--val", action=argparse.BooleanOptionalAction, default=True, help="validate every epoch")
    u = sub.add_parser("unet", help="there: the lesion U-Net on tiles of a packed face set")
    u.add_argument("--data", required=True)
    u.add_argument("--encoder", default=None, help=f"default: DATA/../pretrained/{ENCODER_START}")
    u.add_argument("--name", default="face_unet")
    u.add_argument("--steps", type=int, default=4000)
    u.add_argument("--minutes", type=float, default=0)
    u.add_argument("--batch", type=int, default=16)
    u.add_argument("--seg-size", type=int, default=256)
    u.add_argument("--seg-tile", type=int, default=320)
    u.add_argument("--seg-infer-size", type=int, default=512)
    for q in (y, u):
        q.add_argument("--device", default="auto")
        q.add_argument("--seed", type=int, default=0)
        q.add_argument("--out", default=os.environ.get("OUT", str(Path("build") / "gpu_out")))
    from .scalp.grade_cnn import CNN_CROPS, TARGETS

    c = sub.add_parser("pack-crops",
                       help="here: the scalp train photos' head crops for grade-cnn (.devdata/scalp_crops)")
    c.add_argument("--shared", default=str(shared_dir()))
    c.add_argument("--weights", default="weights", help="the detector and U-Net that cut the crops")
    c.add_argument("--out", default=str(PACK_DIR))
    c.add_argument("--limit", type=int, default=0)
    c.add_argument("--crops", choices=CNN_CROPS, default=CNN_CROPS[0],
                   help="face-free: other skin and the face side of the brow line grey (as the product shows them)")
    g = sub.add_parser("grade-cnn", help="there: cross-fit and train the scalp grade CNN on packed crops")
    g.add_argument("--data", required=True, help="a packed crop set (.devdata/scalp_crops)")
    g.add_argument("--encoder", default=None, help=f"default: DATA/../pretrained/{ENCODER_START}")
    g.add_argument("--name", default="scalp_cnn")
    g.add_argument("--size", type=int, default=224)
    g.add_argument("--epochs", type=int, default=8)
    g.add_argument("--lr", type=float, default=5e-4)
    g.add_argument("--folds", type=int, default=5)
    g.add_argument("--device", default="auto")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--out", default=os.environ.get("OUT", str(Path("build") / "gpu_out")))
    g.add_argument("--target", choices=TARGETS, default="grade", help="learn the grades, or the Norwood levels")
    a = p.parse_args(argv)
    report = {"pack": pack, "yolo": yolo, "unet": unet, "pack-crops": pack_crops, "grade-cnn": grade_cnn}[a.cmd](a)
    print(json.dumps(report, default=str), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
