"""One request's way through the service: decode -> quality gate -> route and the domain's
chain (through the micro-batcher) -> draw -> encode.

:class:`Flow` owns that order and the threads it runs on, in the lifecycle LitServe uses
(setup, decode, batch, predict, unbatch, encode):

* ``start`` (setup): one model thread loads the models (``domains.load_models``) and
  later runs every batch; a pool of ``io_threads`` threads decodes and draws; the event
  loop only waits.
* ``analyze``: one photo's bytes -> the JSON answer. The header is read first
  (``decode.inspect``: refused there when over a pixel limit) and the decode reserves what
  it will cost from the process's decode budget (``budget.DecodeBudget``): concurrent large
  decodes wait for room instead of adding up. Concurrent calls share forward passes
  (``batching.MicroBatcher`` calls ``predict.predict`` with up to ``max_batch`` photos).
  With ``alive`` (the HTTP handler: is the client still connected?) the work of a client
  that has gone is dropped before the decode and before the model run (``ClientGone``).

The aiohttp handler (``views.analyze``) and ``python -m inference analyze`` both call
``Flow.analyze``. Bad input raises ``DecodeError`` (its ``code`` names it; also for an image
whose decode would need more than the whole budget), ``DomainUnavailable``, ``ClientGone``,
or the batcher's ``Busy`` / ``Stopped``; the caller maps them.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import numpy as np

from inference.pipeline.common import quality as gate
from inference.pipeline.common.background import known_background
from inference.pipeline.common.decode import DecodedImage, DecodeError, Header, decode, inspect
from inference.pipeline.common.quality import QualityReport

from .batching import Alive, Gone, MicroBatcher
from .budget import BudgetExceeded, DecodeBudget
from .domains import Models, load_models
from .encode import draw, encode, final_report
from .predict import Job, OnModelBatch, Prediction, predict
from .settings import Settings

ModelsFactory = Callable[[Settings], Models]
OnDrop = Callable[[str], None]  # (stage: decode / model) a request dropped before it, its client gone


class DomainUnavailable(LookupError):
    """The request asked for a domain whose models this server has not loaded."""


class ClientGone(RuntimeError):
    """The client went away before its photo's ``stage`` (``decode`` or ``model``): dropped."""

    def __init__(self, stage: str):
        super().__init__(f"the client went away before the {stage}")
        self.stage = stage


def too_costly(header: Header, e: BudgetExceeded) -> DecodeError:
    """A file the budget could never decode is refused as too many pixels."""
    w, h = header.size
    return DecodeError("too_many_pixels", f"decoding this {w} x {h} {header.bits}-bit {header.format} would need "
                                          f"about {e.nbytes >> 20} MB, more than this service's decode budget "
                                          f"({e.max_bytes >> 20} MB)")


class Checked(NamedTuple):
    """A decoded photo, the quality gate's first verdict, timings (ms) and, for a photo that
    passed, the pixels known not to be the person (``pipeline/common/background.py``)."""

    img: DecodedImage
    report: QualityReport
    timings: dict[str, float]
    background: np.ndarray | None = None

    def job(self, domain: str = "auto") -> Job:
        return Job(self.img.rgb, domain, self.background)


def decode_and_check(data: bytes) -> Checked:
    """Bytes -> photo and the quality gate's first verdict (raises ``DecodeError``)."""
    t0 = time.perf_counter()
    img = decode(data)
    t1 = time.perf_counter()
    report = gate.check(img.rgb)
    background = known_background(img.rgb, img.alpha) if report.ok else None
    t2 = time.perf_counter()
    return Checked(img, report, {"decode": (t1 - t0) * 1000, "quality": (t2 - t1) * 1000}, background)


class Flow:
    def __init__(self, settings: Settings, models_factory: ModelsFactory = load_models,
                 on_model_batch: OnModelBatch | None = None, on_drop: OnDrop | None = None):
        self.settings = settings
        self.models_factory = models_factory
        self.on_model_batch = on_model_batch
        self.on_drop = on_drop
        self._models: Models | None = None
        self._batcher: MicroBatcher[Job, Prediction] | None = None
        self._model_thread: ThreadPoolExecutor | None = None
        self._pool: ThreadPoolExecutor | None = None
        self.budget = DecodeBudget(settings.decode_budget)

    # -- setup ------------------------------------------------------------------------

    async def start(self) -> None:
        """Load the models on the model thread and start the batcher."""
        s = self.settings
        # one thread owns the models: it loads them and runs every batch. Loading them on
        # another thread leaves a second OpenMP pool alive, which slowed each forward pass
        # (by about a third on the 2-core CPU: CHANGELOG.md, 2026-11-26).
        self._model_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="models")
        loop = asyncio.get_running_loop()
        self._models = await loop.run_in_executor(self._model_thread, self.models_factory, s)
        self._batcher = MicroBatcher(self._predict, max_batch=s.max_batch, max_wait_ms=s.max_wait_ms,
                                     max_queue=s.max_queue, name="models", executor=self._model_thread,
                                     on_drop=lambda: self._dropped("model"))
        self._pool = ThreadPoolExecutor(s.io_threads, thread_name_prefix="decode-draw")
        await self._batcher.start()

    async def stop(self) -> None:
        if self._batcher is not None:
            await self._batcher.stop()
        for pool in (self._model_thread, self._pool):
            if pool is not None:
                pool.shutdown(wait=True)
        self._batcher = self._model_thread = self._pool = None

    async def __aenter__(self) -> Flow:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def models(self) -> Models:
        if self._models is None:
            raise RuntimeError("the flow has not been started")
        return self._models

    @property
    def waiting(self) -> int:
        """Photos waiting for a batch."""
        return self._batcher.waiting if self._batcher is not None else 0

    def _predict(self, jobs: list[Job]) -> list[Prediction]:
        return predict(self.models, jobs, self.on_model_batch)

    # -- one request --------------------------------------------------------------------

    async def analyze(self, data: bytes, domain: str = "auto", with_image: bool = True,
                      alive: Alive | None = None) -> dict:
        """The answer for one photo (see ``encode`` for a photo failing the quality gate);
        ``alive``: false once the caller no longer wants it (checked before the costly steps)."""
        t0 = time.perf_counter()
        if not self.models.available(domain):
            raise DomainUnavailable(domain)
        batcher, pool = self._batcher, self._pool
        assert batcher is not None and pool is not None
        loop = asyncio.get_running_loop()
        batcher.expect()  # a photo is on its way: a batch being formed may wait for it
        try:
            checked = await self._decode(data, pool, alive)
        except BaseException:
            batcher.unexpect()
            raise
        img, report, timings = checked.img, checked.report, checked.timings
        pred: Prediction | None = None
        if not report.ok:
            batcher.unexpect()
        else:
            t1 = time.perf_counter()
            if alive is not None and not alive():
                batcher.unexpect()
                self._dropped("model")
                raise ClientGone("model")
            try:
                pred = await batcher.submit(checked.job(domain), expected=True, alive=alive)
            except Gone as e:
                raise ClientGone("model") from e
            timings["queue"] = max(0.0, (time.perf_counter() - t1) * 1000 - pred.predict_ms)
            timings["predict"] = pred.predict_ms
        result = await loop.run_in_executor(pool, self._finish, img, report, pred, timings, domain, with_image)
        result["timings_ms"]["total"] = round((time.perf_counter() - t0) * 1000, 1)
        return result

    def _dropped(self, stage: str) -> None:
        if self.on_drop is not None:
            self.on_drop(stage)

    async def _decode(self, data: bytes, pool: ThreadPoolExecutor, alive: Alive | None) -> Checked:
        """Header, then the decode and the gate within the decode budget.

        The bytes stay reserved until the decoding thread is done, also when the caller is
        cancelled meanwhile (aiohttp cancels the handler of a gone client where
        ``handler_cancellation`` is on): a thread cannot be stopped, and its memory is in use.
        """
        loop = asyncio.get_running_loop()
        header = await loop.run_in_executor(pool, inspect, data)
        try:
            await self.budget.acquire(header.cost)
        except BudgetExceeded as e:
            raise too_costly(header, e) from e
        except asyncio.CancelledError:
            if alive is not None and not alive():  # its handler was cancelled, the client gone
                self._dropped("decode")
            raise
        try:
            if alive is not None and not alive():  # it may have waited for room a while
                self._dropped("decode")
                raise ClientGone("decode")
            job = loop.run_in_executor(pool, decode_and_check, data)
        except BaseException:
            self.budget.release(header.cost)
            raise
        job.add_done_callback(lambda f: self._decoded(f, header.cost))
        return await asyncio.shield(job)

    def _decoded(self, job: asyncio.Future, nbytes: int) -> None:
        self.budget.release(nbytes)
        if not job.cancelled():
            job.exception()  # retrieved: a caller that was cancelled no longer reads it

    def _finish(self, img: DecodedImage, report: QualityReport, pred: Prediction | None,
                timings: dict[str, float], requested: str, with_image: bool) -> dict:
        return finish(self.models, img, report, pred, timings, requested, with_image)


def finish(models: Models, img: DecodedImage, report: QualityReport, pred: Prediction | None,
           timings: dict[str, float], requested: str = "auto", with_image: bool = True) -> dict:
    """After the models: the gate's final verdict, the drawing of a graded photo, the JSON answer."""
    t0 = time.perf_counter()
    report = final_report(report, pred)
    graded = pred is not None and pred.output is not None and report.ok
    jpeg = draw(img, pred) if graded and with_image and pred is not None else None
    domain = pred.domain if pred is not None else (requested if requested != "auto" else None)
    timings = {**timings, "draw": (time.perf_counter() - t0) * 1000}
    return encode(img, report, pred, jpeg, timings, models.model_version(domain), requested)
