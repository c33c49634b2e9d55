#!/usr/bin/env bash
# The benchmark alone (python -m inference.bench), for a lent GPU machine (the `device`
# tool), over the working tree plus the carried .whl/ (ultralytics and its helpers,
# segmentation-models-pytorch) and .devdata/ (python -m inference.train.gpu pack: the
# photos, the Korean font). It compares one service process with several
# (`--workers`, inference/service/workers.py) in one run, with a GPU host's settings:
# bigger batches, a longer queue. Also runs here on the CPU, for a dry run:
#   OUT=/tmp/out BENCH_DEVICE=cpu BENCH_N=16 WORKERS=1,2 PYTHON=.venv/bin/python scripts/device_bench.sh
# Usage there: scripts/device_bench.sh   (figures in $OUT/bench.txt and $OUT/bench.json)
set -uo pipefail
cd "$(dirname "$0")/.."
: "${OUT:?OUT must be set (the device tool sets it)}"
DATA=${DATA:-.devdata}
BENCH_S=${BENCH_S:-420}
BENCH_DEVICE=${BENCH_DEVICE:-cuda}
WORKERS=${WORKERS:-1,8}
PY=${PYTHON:-python3}

if compgen -G ".whl/*.whl" >/dev/null; then
    $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
fi
export PYTHONPATH="/tmp/site:$PWD/$DATA/site:$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 YOLO_OFFLINE=1 MPLBACKEND=Agg
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
photos=(--data ../shared/datasets)  # here (a dry run); on the device the packed copy travels instead
[ -d "$DATA/scalp/images/val" ] && photos=(--data "$DATA/scalp/images/val")
INFERENCE_MAX_BATCH=${INFERENCE_MAX_BATCH:-32} INFERENCE_MAX_QUEUE=${INFERENCE_MAX_QUEUE:-512} \
INFERENCE_IO_THREADS=${INFERENCE_IO_THREADS:-4} timeout "$BENCH_S" \
    $PY -m inference.bench "${photos[@]}" --n "${BENCH_N:-256}" --repeats 2 --device "$BENCH_DEVICE" \
    --workers "$WORKERS" --json "$OUT/bench.json" >"$OUT/bench.txt" 2>&1
status=$?
echo "bench exit $status at ${SECONDS}s"
tail -45 "$OUT/bench.txt"
exit $status
