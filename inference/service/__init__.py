"""The HTTP inference service: ``python -m inference serve``.

A request's way: ``views.analyze`` -> ``flow.Flow.analyze`` (decode -> quality gate ->
``predict.predict`` through ``batching.MicroBatcher`` -> ``encode.draw`` -> ``encode.encode``).
The domains are loaded and registered in ``domains.py``; the app is assembled in ``app.py``
and run by ``serve.py`` (``workers.py`` for several processes).
"""
