#!/usr/bin/env bash
# Runs on a lent GPU machine (the `device` tool), over the working tree plus the carried
# .devdata/ (python -m inference.train.gpu pack) and .whl/ (ultralytics, its thop and
# platform helpers, segmentation-models-pytorch: the machine has torch but not these).
#
# In parallel, each under a wall-time budget (the cosine schedules follow the clock):
#   face_a     lesion YOLO, 640 px, Ultralytics' default zoom range (scale 0.5)
#   face_b     lesion YOLO, 640 px, a narrower zoom range (scale 0.25): ACNE04 lesions are
#              small and were labelled at 640, zooming out by half leaves them 13 px wide
#   scalp_yolo head-region YOLO classed by grade, 640 px, vertical flips (crowns arrive turned)
#   face_unet  lesion U-Net on 320 px tiles
# then the benchmark (scripts/device_bench.sh) on the GPU with the shipped models.
# The variants are chosen back here on the calibration fold, never on the valid split.
#
# Usage there: MINUTES=4.5 scripts/device_train.sh   (writes checkpoints and logs to $OUT)
set -uo pipefail
cd "$(dirname "$0")/.."
: "${OUT:?OUT must be set (the device tool sets it)}"
MINUTES=${MINUTES:-4.5}
DATA=${DATA:-.devdata}
IMGSZ=${IMGSZ:-640}
EXTRA=${EXTRA:-}
BENCH_S=${BENCH_S:-150}
BENCH_DEVICE=${BENCH_DEVICE:-cuda}
LOG="$OUT/log.txt"

python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH="/tmp/site:$PWD/$DATA/site:$PWD" PYTHONUNBUFFERED=1 YOLO_OFFLINE=1 MPLBACKEND=Agg
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee -a "$LOG"
python3 -c "import torch, ultralytics, segmentation_models_pytorch as s; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'ultralytics', ultralytics.__version__, 'smp', s.__version__)" 2>&1 | tee -a "$LOG"

job() {  # name, then the arguments of python -m inference.train.gpu
    local name=$1; shift
    ( python3 -m inference.train.gpu "$@" 2>&1 | grep --line-buffered -v "━━━━" | sed -u "s/^/[$name] /" >>"$LOG"
      echo "[$name] exit ${PIPESTATUS[0]}" >>"$LOG" ) &
}
job face_a yolo --data "$DATA"/face --name face_a --imgsz "$IMGSZ" $EXTRA --batch 32 --scale 0.5 --minutes "$MINUTES" --workers 4
job face_b yolo --data "$DATA"/face --name face_b --imgsz "$IMGSZ" $EXTRA --batch 32 --scale 0.25 --minutes "$MINUTES" --workers 4
job scalp yolo --data "$DATA"/scalp --name scalp_yolo --imgsz "$IMGSZ" $EXTRA --batch 32 --flipud 0.5 --minutes "$MINUTES" --workers 3
job unet unet --data "$DATA"/face --name face_unet --steps 4000 --minutes "$MINUTES"
wait
echo "training done at ${SECONDS}s" | tee -a "$LOG"
grep -h '^\[[a-z_]*\] {' "$LOG" | cut -c1-600

# the benchmark on the GPU (the shipped models; photos: the packed calibration fold, cycled),
# one service process against several (scripts/device_bench.sh)
BENCH_S=$BENCH_S BENCH_DEVICE=$BENCH_DEVICE DATA=$DATA scripts/device_bench.sh 2>&1 | tee -a "$LOG"
