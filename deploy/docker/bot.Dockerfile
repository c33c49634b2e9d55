# syntax=docker/dockerfile:1
# The Telegram bot (python -m bot): no torch, no models; it calls the inference service over HTTP.
#
#   docker build -f deploy/docker/bot.Dockerfile -t selfcheck-bot:0.1.0 .
#
# Build context: the repository root; only bot/, messages/, the drawing code the /history chart
# shares with the service (inference/pipeline/, which imports no torch), pyproject.toml and
# deploy/docker/requirements.py are sent (bot.Dockerfile.dockerignore). tests/test_deploy.py
# checks that the packages requirements.py picks cover every package the bot imports.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
COPY pyproject.toml deploy/docker/requirements.py /src/
# pyproject.toml's dependencies without the model stack (requirements.py: BOT_EXCLUDES)
RUN python /src/requirements.py /src/pyproject.toml bot > /src/requirements.txt \
 && pip install -r /src/requirements.txt \
 && python -c "import telegram, aiohttp, aiosqlite, asyncpg, jinja2, matplotlib, cv2"

FROM ${PYTHON_IMAGE}
RUN groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid app --home-dir /home/app --create-home --shell /usr/sbin/nologin app \
 && mkdir -p /data && chown app:app /data
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY bot/ /app/bot/
COPY messages/ /app/messages/
COPY inference/__init__.py /app/inference/__init__.py
COPY inference/pipeline/ /app/inference/pipeline/
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
