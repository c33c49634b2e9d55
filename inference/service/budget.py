"""The decode budget: bytes of image decoding in flight, shared by every request of one
service process.

Each decode reserves what its header says it will cost at most
(``inference.pipeline.common.decode.Header.cost``) and gives it back when done; a decode
that does not fit waits. Eight hostile images at once then queue instead of each taking
its share of memory at the same moment, and the process stays within about its models plus
``max_bytes``. A single reservation larger than the whole budget is refused at once
(``BudgetExceeded``): it could never run.

Order: the waiters are served in arrival order, except that one that fits may pass earlier
ones that do not (an ordinary photo, a few MB, is not kept behind a 300 MB file waiting for
room), and a waiter passed ``max_overtakes`` times lets nobody else pass until it fits, so
no large image waits for ever.

Example:
    >>> import asyncio
    >>> async def main():
    ...     budget = DecodeBudget(100)
    ...     async with budget.reserve(60):
    ...         small = asyncio.ensure_future(budget.reserve(30).__aenter__())
    ...         await asyncio.sleep(0)
    ...         return budget.in_use, small.done()
    >>> asyncio.run(main())
    (90, True)
"""
from __future__ import annotations

import asyncio
import collections
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

MB = 1024 * 1024
# The default budget: the costliest image the header limits accept (a 4:4:4 progressive
# 50 MP JPEG, ~440 MB by Header.cost) still fits alone, and beside one large PNG (~350 MB
# for an 8-bit 7000 x 7000 RGBA) an ordinary phone photo (~25-150 MB) still finds room. With
# the models' few hundred MB the process stays around 1 GB whatever arrives at once.
DEFAULT_DECODE_BUDGET = 512 * MB
MAX_OVERTAKES = 32  # later waiters that may pass one that does not fit, before it blocks them


class BudgetExceeded(ValueError):
    """One reservation is larger than the whole budget."""

    def __init__(self, nbytes: int, max_bytes: int):
        super().__init__(f"{nbytes / MB:.0f} MB is more than the whole decode budget of {max_bytes / MB:.0f} MB")
        self.nbytes, self.max_bytes = nbytes, max_bytes


@dataclass(eq=False)
class _Waiter:
    nbytes: int
    future: asyncio.Future = field(repr=False)
    overtaken: int = 0  # later waiters granted before this one


class DecodeBudget:
    """An asyncio counter of reserved bytes with a queue (one event loop; not thread-safe)."""

    def __init__(self, max_bytes: int = DEFAULT_DECODE_BUDGET, max_overtakes: int = MAX_OVERTAKES):
        if max_bytes < 1:
            raise ValueError("the decode budget must be at least 1 byte")
        self.max_bytes = max_bytes
        self.max_overtakes = max_overtakes
        self.in_use = 0  # bytes reserved now
        self.peak = 0  # the most bytes reserved at once
        self.waited = 0  # reservations that had to wait
        self._waiters: collections.deque[_Waiter] = collections.deque()

    @property
    def waiting(self) -> int:
        """Reservations waiting for room."""
        return len(self._waiters)

    async def acquire(self, nbytes: int) -> None:
        """Take ``nbytes`` of the budget, waiting for room; ``release(nbytes)`` gives it back.
        Raises ``BudgetExceeded`` when it is more than the whole budget."""
        nbytes = max(0, int(nbytes))
        if nbytes > self.max_bytes:
            raise BudgetExceeded(nbytes, self.max_bytes)
        waiter = _Waiter(nbytes, asyncio.get_running_loop().create_future())
        self._waiters.append(waiter)
        self._grant()
        if not waiter.future.done():
            self.waited += 1
        try:
            await waiter.future
        except BaseException:  # cancelled while waiting (or just after being granted)
            if waiter.future.done() and not waiter.future.cancelled():
                self.release(nbytes)
            else:
                self._remove(waiter)
                self._grant()
            raise

    def release(self, nbytes: int) -> None:
        self.in_use -= max(0, int(nbytes))
        self._grant()

    @asynccontextmanager
    async def reserve(self, nbytes: int) -> AsyncIterator[None]:
        """``acquire`` for the ``async with`` block, ``release`` after it."""
        await self.acquire(nbytes)
        try:
            yield
        finally:
            self.release(nbytes)

    def _remove(self, waiter: _Waiter) -> None:
        try:
            self._waiters.remove(waiter)
        except ValueError:
            pass

    def _grant(self) -> None:
        passed: list[_Waiter] = []  # earlier waiters that do not fit
        for w in list(self._waiters):
            if w.future.done():  # cancelled
                self._remove(w)
                continue
            if self.in_use + w.nbytes > self.max_bytes:
                passed.append(w)
                if w.overtaken >= self.max_overtakes:
                    break  # it has been passed enough: the next room is its
                continue
            self._remove(w)
            self.in_use += w.nbytes
            self.peak = max(self.peak, self.in_use)
            for p in passed:
                p.overtaken += 1
            w.future.set_result(None)
