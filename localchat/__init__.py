"""The product on one machine, without Telegram: a local Bot API server, its web chat, the dev stack.

==========================  ====================================================================
``devstack.py``             ``python -m localchat``: the local Bot API server with the web chat,
                            the inference service and the bot, started by one command
                            (``scripts/start.sh``)
``botapi/``                 the local Telegram Bot API server (``python -m localchat.botapi``
                            runs it alone) and its control API client
``webchat/``                the web chat page the server serves at ``/chat/``
==========================  ====================================================================

It depends on the bot (its settings, to start it the way the product does);
the bot never imports this package.

The parts by hand, in three terminals::

    .venv/bin/python -m localchat.botapi --port 8081 --token 123456:LOCAL-token
    .venv/bin/python -m inference serve --port 8090
    TELEGRAM_BOT_TOKEN=123456:LOCAL-token \\
    TELEGRAM_API_BASE_URL=http://127.0.0.1:8081/bot \\
    TELEGRAM_FILE_BASE_URL=http://127.0.0.1:8081/file/bot \\
    INFERENCE_URL=http://127.0.0.1:8090 .venv/bin/python -m bot

then play the user in the web chat (``http://127.0.0.1:8081/chat/``) or through the
control API (``localchat.botapi.LocalApiClient``).
"""
