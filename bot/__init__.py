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
==========================  ====================================================================

Run it locally, nothing leaves the machine: ``scripts/start.sh`` starts a local Bot API
server with a web chat, the inference service and this bot (the local server, its web chat
and that command live outside this package).
"""
