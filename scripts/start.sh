#!/usr/bin/env bash
# One command: set up .venv (scripts/setup.sh), then run the whole product on this machine:
# the inference service, the bot and, without TELEGRAM_BOT_TOKEN, the local Bot API server
# with its web chat (the address is printed). With TELEGRAM_BOT_TOKEN set, the bot talks
# to Telegram instead. Ctrl+C stops everything. Options: .venv/bin/python -m localchat --help
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/python -m localchat "$@"
