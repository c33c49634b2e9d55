#!/usr/bin/env bash
# The scalp detector, cross-fitted, on a lent GPU machine (the `device` tool), over the
# working tree plus the carried .devdata/scalp, .devdata/pretrained
# (python -m inference.train.gpu pack) and .whl/ (ultralytics, its thop and platform
# helpers, segmentation-models-pytorch).
#
# Six YOLO trainings in parallel, the same settings each, a fixed schedule ending at its
# last epoch (no checkpoint is chosen on a val set):
#   scalp_yolo_fold0..4  without one person fold of .devdata/scalp/folds.json, validated on
#                        it every epoch (its mAP curve goes to the log)
#   scalp_yolo           on every train photo (the shipped detector)
# Back here: python -m inference.train scalp --reuse-round1 --detector-folds 5 \
#   --fold-detectors OUT --detector OUT/scalp_yolo.pt --segmenter weights/scalp_unet.pt ...
#
# Usage there: scripts/device_scalp_cv.sh   (checkpoints and log.txt to $OUT)
# Dry run here: OUT=/tmp/cv DEVICE=cpu EPOCHS=1 IMGSZ=64 BATCH=4 WORKERS=0 scripts/device_scalp_cv.sh
set -uo pipefail
cd "$(dirname "$0")/.."
: "${OUT:?OUT must be set (the device tool sets it)}"
DATA=${DATA:-.devdata/scalp}
EPOCHS=${EPOCHS:-40}
IMGSZ=${IMGSZ:-640}
BATCH=${BATCH:-32}
WORKERS=${WORKERS:-2}
DEVICE=${DEVICE:-auto}
FOLDS=$(python3 -c "import json,sys; print(len(set(json.load(open(sys.argv[1])).values())))" "$DATA/folds.json") || exit 1
LOG="$OUT/log.txt"
mkdir -p "$OUT"

if [ -d .whl ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
    export PYTHONPATH="/tmp/site:$PWD"
fi
export PYTHONUNBUFFERED=1 YOLO_OFFLINE=1 MPLBACKEND=Agg
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total --format=csv | tee -a "$LOG"

job() {  # name, fold, then more arguments of python -m inference.train.gpu yolo
    local name=$1 fold=$2; shift 2
    ( python3 -m inference.train.gpu yolo --data "$DATA" --name "$name" --fold "$fold" --checkpoint last \
          --imgsz "$IMGSZ" --epochs "$EPOCHS" --batch "$BATCH" --scale 0.5 --flipud 0.5 --close-mosaic 10 \
          --workers "$WORKERS" --device "$DEVICE" --out "$OUT" --runs /tmp/yolo_runs "$@" 2>&1 \
          | grep --line-buffered -v "━━━━" | sed -u "s/^/[$name] /" >>"$LOG"
      echo "[$name] exit ${PIPESTATUS[0]} at ${SECONDS}s" >>"$LOG" ) &
}
for ((k = 0; k < FOLDS; k++)); do job "scalp_yolo_fold$k" "$k"; done
job scalp_yolo -1 --no-val
wait
echo "training done at ${SECONDS}s" | tee -a "$LOG"
grep -h '^\[scalp_yolo[a-z0-9_]*\] \(exit\|{\)' "$LOG" | cut -c1-400
ls -la "$OUT"
