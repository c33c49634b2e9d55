# syntax=docker/dockerfile:1
# The Telegram bot (python -m bot): no torch, no OpenCV, no models; it calls the inference service
# over HTTP.
#
#   docker build -f deploy/docker/bot.Dockerfile -t selfcheck-bot:0.1.0 .
#
# Build context: the repository root; only pyproject.toml, uv.lock, bot/ and messages/ are sent
# (bot.Dockerfile.dockerignore). The packages are the lock's resolution of the project's `bot`
# extra, each at its locked version and checked against its locked hashes.
# tests/deploy/test_deploy.py checks that they cover every package `python -m bot` imports and hold
# none of the model stack.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# uv (the version scripts/setup.sh uses; build stage only) turns uv.lock into pip's hashed
# requirements format; the project itself is not installed, its code is copied below.
RUN pip install uv==0.13.9
COPY pyproject.toml uv.lock /src/
RUN cd /src && uv export -q --frozen --extra bot --no-emit-project -o /src/req.txt
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
# --no-deps: the lock lists every package (it leaves out opencv-python, which Ultralytics asks
# for; opencv-python-headless gives the same cv2: [tool.uv] in pyproject.toml)
RUN pip install --require-hashes --no-deps -r /src/req.txt \
 && python -c "import telegram, aiohttp, aiosqlite, asyncpg, jinja2, matplotlib, pylopdf_fonts_ko"

FROM ${PYTHON_IMAGE}
RUN groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid app --home-dir /home/app --create-home --shell /usr/sbin/nologin app \
 && mkdir -p /data && chown app:app /data
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY bot/ /app/bot/
COPY messages/ /app/messages/
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    MPLCONFIGDIR=/tmp/matplotlib \
    BOT_DB_PATH=/data/bot.sqlite3
# /data holds the SQLite file (BOT_DB_PATH): mount a volume there; a named volume takes the
# folder's owner. With BOT_DATABASE_URL (PostgreSQL) nothing is written there.
USER 10001:10001
# Webhook mode only (WEBHOOK_URL set; WEBHOOK_LISTEN=0.0.0.0 in a container); polling needs no port.
EXPOSE 8443
# Exit status 2: a configuration error (do not restart in a loop).
CMD ["python", "-m", "bot"]
