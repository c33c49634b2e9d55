"""Telegram bot for the scalp / facial-skin self-check service.

Layout (python-telegram-bot 22, asyncio):

==========================  ====================================================================
``app.py``                  ``build_application(settings)``: the one place the app is assembled;
                            ``running(app)``: polling or webhook, with the lifecycle hooks
``handlers.py``             every update handler, registered in ``register()``
``jobs.py``                 the durable photo-job worker (order, retries, resume, exactly once)
``inference_client.py``     aiohttp client of the inference service
``storage.py``              aiosqlite repository (users, jobs, results, reminders)
``texts.py`` + messages/    every Korean text, from Jinja2 templates
``ui.py``                   keyboards, callback data, result captions
``chart.py``                the /history trend chart (matplotlib Agg, Korean font)
``reminders.py``            the /remind sweep (JobQueue)
``webhook.py``              webhook mode on aiohttp
``settings.py``             configuration from the environment, log redaction
``limits.py``               every Bot API limit as a named constant
``localapi/``               a local Bot API server for tests and local runs
``harness.py``              the whole stack on loopback (tests, ``scripts/bench_bot.py``)
==========================  ====================================================================

Run it locally, nothing leaves the machine::

    .venv/bin/python -m bot.localapi --port 8081 --token 123456:LOCAL-token     # terminal 1
    .venv/bin/python -m inference serve --port 8090                              # terminal 2
    TELEGRAM_BOT_TOKEN=123456:LOCAL-token \\
    TELEGRAM_API_BASE_URL=http://127.0.0.1:8081/bot \\
    TELEGRAM_FILE_BASE_URL=http://127.0.0.1:8081/file/bot \\
    INFERENCE_URL=http://127.0.0.1:8090 .venv/bin/python -m bot                  # terminal 3

then play the user through the local server's control API (``bot.localapi.LocalApiClient``).
"""
