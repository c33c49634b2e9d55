# syntax=docker/dockerfile:1
# The inference service (python -m inference serve): YOLO + U-Net, on the GPU when one is given.
#
#   docker build -f deploy/docker/inference.Dockerfile -t selfcheck-inference:0.1.0 .
#
# Build context: the repository root. Only pyproject.toml, uv.lock, inference/ and weights/ are
# sent (inference.Dockerfile.dockerignore). The trained models are baked in from weights/; nothing
# is downloaded at run time (YOLO_OFFLINE=1). To try other models without a rebuild, mount a
# folder read-only over /app/weights (or point WEIGHTS_DIR at it).
#
# Packages: the lock's resolution of the project's `service` and `gpu` extras (ONNX Runtime and
# the torch stack), each at its locked version and checked against its locked hashes: the
# versions scripts/setup.sh installs. OpenCV is the headless build only (pyproject.toml's
# [tool.uv] override keeps Ultralytics' opencv-python, the GUI build, out of the lock).
#
# CUDA: the torch wheel uv.lock pins is PyPI's CUDA 13.0 build and brings its CUDA libraries as
# nvidia-* wheels, so a plain python base is enough; the host needs only the NVIDIA driver (R580
# or newer for CUDA 13) and the NVIDIA Container Toolkit. Without a GPU the same image runs on the
# CPU (INFERENCE_DEVICE unset: cuda when present).

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# uv (the version scripts/setup.sh uses; build stage only) turns uv.lock into pip's hashed
# requirements format; the project itself is not installed, its code is copied below.
RUN pip install uv==0.13.9
COPY pyproject.toml uv.lock /src/
RUN cd /src && uv export -q --frozen --extra service --extra gpu --no-emit-project -o /src/req.txt
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
# --no-deps: the lock lists every package (it leaves out opencv-python, which Ultralytics asks
# for; opencv-python-headless gives the same cv2: [tool.uv] in pyproject.toml)
RUN pip install --require-hashes --no-deps -r /src/req.txt \
 && python -c "import cv2, onnxruntime, torch, ultralytics, segmentation_models_pytorch, prometheus_client"

FROM ${PYTHON_IMAGE}
RUN groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid app --home-dir /home/app --create-home --shell /usr/sbin/nologin app
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY inference/ /app/inference/
COPY weights/ /app/weights/
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    YOLO_OFFLINE=1 \
    YOLO_CONFIG_DIR=/tmp/ultralytics \
    MPLCONFIGDIR=/tmp/matplotlib \
    WEIGHTS_DIR=/app/weights \
    INFERENCE_HOST=0.0.0.0 \
    INFERENCE_PORT=8090
USER 10001:10001
EXPOSE 8090
# The port opens only once the models are loaded; /healthz needs no key.
HEALTHCHECK --interval=15s --timeout=5s --start-period=180s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('INFERENCE_PORT', '8090'), timeout=4)"]
CMD ["python", "-m", "inference", "serve"]
