# syntax=docker/dockerfile:1
# The inference service (python -m inference serve): YOLO + U-Net, on the GPU when one is given.
#
#   docker build -f deploy/docker/inference.Dockerfile -t selfcheck-inference:0.1.0 .
#
# Build context: the repository root. Only pyproject.toml, deploy/docker/requirements.py,
# inference/ and weights/ are sent (inference.Dockerfile.dockerignore). The trained models are baked in from weights/; nothing is
# downloaded at run time (YOLO_OFFLINE=1). To try other models without a rebuild, mount a folder
# read-only over /app/weights (or point WEIGHTS_DIR at it).
#
# CUDA: the PyPI torch wheel pinned below (the same pin as scripts/setup.sh) is the CUDA 13.0
# build and brings its CUDA libraries as nvidia-* wheels, so a plain python base is enough; the
# host needs only the NVIDIA driver (R580 or newer for CUDA 13) and the NVIDIA Container Toolkit.
# Without a GPU the same image runs on the CPU (INFERENCE_DEVICE unset: cuda when present).

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
RUN pip install torch==2.14.1 torchvision==0.29.1
COPY pyproject.toml deploy/docker/requirements.py /src/
# The project's own dependency list (pyproject.toml is the one place it is written), without
# installing the project itself: the code is copied to /app below.
RUN python /src/requirements.py /src/pyproject.toml inference > /src/requirements.txt \
 && pip install -r /src/requirements.txt \
 # ultralytics pulls in opencv-python (GUI build, needs libGL) beside the headless one: keep only headless
 && if pip show -q opencv-python >/dev/null 2>&1; then \
        pip uninstall -y opencv-python \
     && pip install --force-reinstall --no-deps "opencv-python-headless==$(pip show opencv-python-headless | sed -n 's/^Version: //p')"; \
    fi \
 && python -c "import cv2, torch, ultralytics, segmentation_models_pytorch"

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
