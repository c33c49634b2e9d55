"""Telegram bot for the scalp / facial-skin self-check service.

Layout (python-telegram-bot 22, asyncio):

==========================  ====================================================================
``app.py``                  ``build_application(settings)``: the one place the app is assembled
                            (handlers, lifecycle hooks, the JobQueue's reminder sweep);
                            ``running(app)``: polling or webhook, with the lifecycle hooks
``context.py``              ``Services`` (database, service client, job worker) and the
                            ``CallbackContext`` that hands them to callbacks
``handlers.py``             every update handler, registered in ``register()``
``jobs/``                   the durable photo jobs: ``dispatch`` (claims, concurrency, recovery),
                            ``photo`` (one photo -> an outcome), ``apply`` (the one place an
                            outcome is sent and recorded); order, retries, resume, exactly once
``inference_client.py``     aiohttp client of the inference service
``storage/``                the repository (users, jobs, results, reminders): ``base`` (the
                            interface), ``sql`` (every statement), ``sqlite``, ``postgres``,
                            ``model`` (records)
``texts.py`` + messages/    every Korean text, from Jinja2 templates
``ui.py``                   keyboards, callback data, result captions
``chart.py``                the /history trend chart (matplotlib Agg, Korean font)
``reminders.py``            the /remind sweep (a JobQueue job)
``webhook.py``              webhook mode on aiohttp
``ratelimit.py``            Telegram's flood limits, shared by replicas through PostgreSQL
``settings.py``             configuration from the environment, log redaction
``limits.py``               every Bot API limit as a named constant
==========================  ====================================================================

Run it locally, nothing leaves the machine: ``scripts/start.sh`` starts a local Bot API
server with a web chat, the inference service and this bot (the local server, its web chat
and that command live outside this package).
"""
