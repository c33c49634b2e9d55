#!/usr/bin/env bash
# The scalp grade CNN's settings compared on a lent GPU machine (the `device` tool), over
# the working tree plus the carried .devdata/scalp_crops (python -m inference.train.gpu
# pack-crops: the train photos' head crops as the shipped detector cuts them),
# .devdata/pretrained and .whl/.
#
# Each setting (input size : epochs : peak learning rate [: target, grade or norwood]) is cross-fitted over the same
# five person folds as `inference.train scalp` uses, in parallel; the one with the best
# out-of-fold macro-F1 on the train split (then accuracy) is kept: its shipped network
# and out-of-fold probabilities go to $OUT (scalp_cnn.pt, grade_cnn_oof.json), every
# setting's report to sweep.json. Back here:
#   cp OUT/scalp_cnn.pt weights/; rm weights/scalp_cnn.onnx; cp OUT/grade_cnn_oof.json build/scalp/
#   python -m inference.train scalp --reuse-round1 --reuse-grade-cnn --cnn-size S --cnn-epochs E --cnn-lr L ...
#
# Usage there: scripts/device_grade_cnn.sh
# Dry run here: OUT=/tmp/g DATA=/tmp/pc/scalp_crops DEVICE=cpu CONFIGS="64:1:5e-4 96:1:1e-3" FOLDS=2 scripts/device_grade_cnn.sh
set -uo pipefail
cd "$(dirname "$0")/.."
: "${OUT:?OUT must be set (the device tool sets it)}"
DATA=${DATA:-.devdata/scalp_crops}
ENCODER=${ENCODER:-.devdata/pretrained/mobilenet_v2_fp16.pth}
CONFIGS=${CONFIGS:-"224:8:5e-4 224:8:1e-3 224:16:5e-4 224:16:2.5e-4 288:8:5e-4 320:8:5e-4 320:12:5e-4 384:8:5e-4"}
FOLDS=${FOLDS:-5}
DEVICE=${DEVICE:-auto}
LOG="$OUT/log.txt"
RUNS=/tmp/grade_cnn_runs
rm -rf "$RUNS"; mkdir -p "$OUT" "$RUNS"

if [ -d .whl ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
    export PYTHONPATH="/tmp/site:$PWD"
fi
export PYTHONUNBUFFERED=1 YOLO_OFFLINE=1 MPLBACKEND=Agg OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total --format=csv | tee -a "$LOG"

for c in $CONFIGS; do
    IFS=: read -r size epochs lr target <<<"$c"
    target=${target:-grade}
    name="cnn_${size}_${epochs}_${lr}_${target}"
    ( python3 -m inference.train.gpu grade-cnn --data "$DATA" --encoder "$ENCODER" --name "$name" --size "$size" \
          --epochs "$epochs" --lr "$lr" --target "$target" --folds "$FOLDS" --device "$DEVICE" --out "$RUNS" >"$RUNS/$name.log" 2>&1
      echo "[$name] exit $? at ${SECONDS}s" >>"$LOG" ) &
done
wait
echo "done at ${SECONDS}s" | tee -a "$LOG"
python3 - "$RUNS" "$OUT" <<'PY' 2>&1 | tee -a "$LOG"
import json, shutil, sys
from pathlib import Path
runs, out = Path(sys.argv[1]), Path(sys.argv[2])
reports = []
for f in sorted(runs.glob("*_oof.json")):
    r = json.loads(f.read_text())["report"]
    reports.append({"name": f.name[: -len("_oof.json")]} | {k: r.get(k) for k in ("size", "epochs", "lr", "target", "test_view", "oof_accuracy", "oof_macro_f1", "oof_confusion", "seconds")})
for log in sorted(runs.glob("*.log")):
    if not (runs / (log.stem + "_oof.json")).exists():
        print(log.stem, "FAILED:", log.read_text()[-1500:])
if not reports:
    sys.exit(1)
best = max(reports, key=lambda r: (r["oof_macro_f1"], r["oof_accuracy"]))
(out / "sweep.json").write_text(json.dumps({"chosen": best["name"], "settings": reports}, indent=1))
shutil.copy(runs / f"{best['name']}.pt", out / "scalp_cnn.pt")
shutil.copy(runs / f"{best['name']}_oof.json", out / "grade_cnn_oof.json")
for r in sorted(reports, key=lambda r: -r["oof_macro_f1"]):
    print(f"{r['name']:22s} macro-F1 {r['oof_macro_f1']:.4f} accuracy {r['oof_accuracy']:.4f} view {r['test_view']} {r['seconds']} s")
print("chosen:", best["name"])
PY
tar -czf "$OUT/oof_all.tar.gz" -C "$RUNS" $(cd "$RUNS" && ls *_oof.json) 2>/dev/null
ls -la "$OUT"
