"""A generic async micro-batcher: concurrent callers share one model call.

Callers ``await batcher.submit(item)``. A background task takes the waiting
items, up to ``max_batch`` of them, as soon as the batch is full, or no item
announced with ``expect()`` is still on its way, or the oldest item has waited
``max_wait_ms``; it runs ``fn(items) -> results`` (same length and
order) on its own single worker thread, so the event loop never blocks and the
model is never called from two threads at once, and gives each caller its
result. An exception from ``fn`` goes to every caller of that batch; the next
batch runs as usual. At most ``max_queue`` items wait: one more raises ``Busy``
(the service answers 503). An item submitted with ``alive`` (a callable) is dropped,
never given to ``fn``, when ``alive()`` is false as its batch is formed (the client that
sent it has gone): its caller gets ``Gone``. An item whose caller was cancelled is dropped
too; ``on_drop`` hears of each.

Example:
    >>> import asyncio
    >>> async def main():
    ...     b = MicroBatcher(lambda xs: [x * 2 for x in xs], max_batch=4, max_wait_ms=20)
    ...     async with b:
    ...         return await asyncio.gather(*(b.submit(i) for i in range(6)))
    >>> asyncio.run(main())
    [0, 2, 4, 6, 8, 10]
"""
from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class Busy(RuntimeError):
    """The queue is full."""


class Stopped(RuntimeError):
    """The batcher stopped before the item ran."""


class Gone(RuntimeError):
    """The item's ``alive()`` was false when its turn came: it was not run."""


Alive = Callable[[], bool]
_Entry = tuple[T, asyncio.Future, float, Alive | None]


class MicroBatcher(Generic[T, R]):
    def __init__(
        self,
        fn: Callable[[list[T]], Sequence[R]],
        *,
        max_batch: int = 8,
        max_wait_ms: float = 10.0,
        max_queue: int = 64,
        on_batch: Callable[[int, float], None] | None = None,
        name: str = "model",
        executor: ThreadPoolExecutor | None = None,
        on_drop: Callable[[], None] | None = None,
    ):
        if max_batch < 1 or max_queue < 1:
            raise ValueError("max_batch and max_queue must be at least 1")
        self.fn = fn
        self.max_batch = max_batch
        self.max_wait = max(0.0, max_wait_ms) / 1000.0
        self.max_queue = max_queue
        self.on_batch = on_batch  # called with (batch size, seconds) after each batch
        self.name = name
        self._pending: collections.deque[_Entry[T]] = collections.deque()
        self._arrived = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._executor: ThreadPoolExecutor | None = executor
        self._own_executor = executor is None
        self._incoming = 0  # items announced with expect() and not yet submitted
        self.dropped = 0  # items not run: their caller gave up, or alive() was false, when their turn came
        self.on_drop = on_drop  # called for each of them

    @property
    def waiting(self) -> int:
        return len(self._pending)

    def expect(self) -> None:
        """Announce an item that is on its way (being decoded): a batch waits for it, up to
        ``max_wait_ms``. Without announced items a batch runs at once, so a lone request
        never waits for company that is not coming. Pair with ``submit(..., expected=True)``
        or ``unexpect()``."""
        self._incoming += 1

    def unexpect(self) -> None:
        """An announced item will not come (it failed before the model)."""
        self._incoming = max(0, self._incoming - 1)
        self._arrived.set()

    async def start(self) -> None:
        if self._task is None:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"batch-{self.name}")
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"batcher-{self.name}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        while self._pending:
            _, fut, _, _ = self._pending.popleft()
            if not fut.done():
                fut.set_exception(Stopped(f"{self.name} batcher stopped"))
        if self._executor is not None and self._own_executor:
            self._executor.shutdown(wait=True)
            self._executor = None

    async def __aenter__(self) -> MicroBatcher[T, R]:
        await self.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.stop()

    async def submit(self, item: T, expected: bool = False, alive: Alive | None = None) -> R:
        """``item``'s result; ``expected``: it was announced with ``expect()``; ``alive``: checked
        when the item's batch is formed, false drops it (``Gone``)."""
        if expected:
            self._incoming = max(0, self._incoming - 1)
        if self._task is None:
            raise Stopped(f"{self.name} batcher is not running")
        if len(self._pending) >= self.max_queue:
            raise Busy(f"{len(self._pending)} items are waiting for the {self.name} model")
        fut = asyncio.get_running_loop().create_future()
        self._pending.append((item, fut, time.monotonic(), alive))
        self._arrived.set()
        return await fut

    async def _gather(self) -> list[_Entry[T]]:
        while not self._pending:
            self._arrived.clear()
            await self._arrived.wait()
        deadline = self._pending[0][2] + self.max_wait
        while len(self._pending) < self.max_batch and self._incoming > 0:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), remaining)
            except TimeoutError:
                break
        batch: list[_Entry[T]] = []
        while self._pending and len(batch) < self.max_batch:
            entry = self._pending.popleft()
            fut, alive = entry[1], entry[3]
            if fut.done() or (alive is not None and not alive()):  # its caller gave up, or its client went
                if not fut.done():
                    fut.set_exception(Gone(f"the {self.name} item's client has gone"))
                self.dropped += 1
                if self.on_drop is not None:
                    self.on_drop()
                continue
            batch.append(entry)
        return batch

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._gather()
            if not batch:
                continue
            items = [entry[0] for entry in batch]
            t0 = time.perf_counter()
            try:
                results = await loop.run_in_executor(self._executor, self.fn, items)
                if len(results) != len(items):
                    raise RuntimeError(f"{self.name}: {len(results)} results for {len(items)} items")
            except asyncio.CancelledError:
                for _, fut, _, _ in batch:
                    if not fut.done():
                        fut.set_exception(Stopped(f"{self.name} batcher stopped"))
                raise
            except Exception as e:  # the whole batch failed: every caller hears it
                for _, fut, _, _ in batch:
                    if not fut.done():
                        fut.set_exception(e)
            else:
                for (_, fut, _, _), r in zip(batch, results):
                    if not fut.done():
                        fut.set_result(r)
            if self.on_batch is not None:
                try:
                    self.on_batch(len(items), time.perf_counter() - t0)
                except Exception:
                    pass
