"""DecodeBudget: bytes in flight, waiters in order, small ones passing, no starvation, no leak."""
from __future__ import annotations

import asyncio

import pytest

from inference.service.budget import BudgetExceeded, DecodeBudget


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def holder(budget: DecodeBudget, nbytes: int, log: list, name: str, release: asyncio.Event) -> None:
    async with budget.reserve(nbytes):
        log.append(name)
        await release.wait()


async def test_reservations_wait_for_room_and_free_it():
    budget = DecodeBudget(100)
    log: list[str] = []
    go = {n: asyncio.Event() for n in "abc"}
    tasks = [asyncio.create_task(holder(budget, 60, log, n, go[n])) for n in "abc"]
    await settle()
    assert log == ["a"] and budget.in_use == 60 and budget.waiting == 2
    go["a"].set()
    await settle()
    assert log == ["a", "b"] and budget.in_use == 60  # in arrival order
    go["b"].set()
    go["c"].set()
    await asyncio.gather(*tasks)
    assert log == ["a", "b", "c"] and budget.in_use == 0 and budget.peak == 60 and budget.waited == 2


async def test_a_small_reservation_passes_large_ones_that_do_not_fit():
    budget = DecodeBudget(100)
    log: list[str] = []
    release = asyncio.Event()
    tasks = [asyncio.create_task(holder(budget, 70, log, f"large{i}", release)) for i in range(3)]
    await settle()
    tasks.append(asyncio.create_task(holder(budget, 20, log, "small", release)))
    await settle()
    assert log == ["large0", "small"] and budget.in_use == 90
    release.set()
    await asyncio.gather(*tasks)
    assert budget.in_use == 0


async def test_a_waiter_passed_often_enough_blocks_the_others():
    budget = DecodeBudget(100, max_overtakes=2)
    log: list[str] = []
    first, rest = asyncio.Event(), asyncio.Event()
    tasks = [asyncio.create_task(holder(budget, 50, log, "running", first))]
    await settle()
    tasks.append(asyncio.create_task(holder(budget, 100, log, "large", rest)))  # needs all of it
    await settle()
    tasks += [asyncio.create_task(holder(budget, 10, log, f"small{i}", rest)) for i in range(3)]
    await settle()
    assert log == ["running", "small0", "small1"]  # the third small one waits behind the large one
    first.set()
    await settle()
    assert "large" not in log  # the two small ones still hold room
    rest.set()
    await asyncio.gather(*tasks)
    assert log[3] == "large" and log[4] == "small2" and budget.in_use == 0


async def test_more_than_the_whole_budget_is_refused_at_once():
    budget = DecodeBudget(100)
    with pytest.raises(BudgetExceeded) as e:
        async with budget.reserve(101):
            pass
    assert e.value.nbytes == 101 and e.value.max_bytes == 100
    assert budget.in_use == 0 and budget.waiting == 0
    async with budget.reserve(100):  # the whole budget is fine
        assert budget.in_use == 100


async def test_a_cancelled_waiter_leaves_nothing_behind():
    budget = DecodeBudget(100)
    log: list[str] = []
    release = asyncio.Event()
    running = asyncio.create_task(holder(budget, 80, log, "running", release))
    await settle()
    waiting = asyncio.create_task(holder(budget, 50, log, "cancelled", release))
    after = asyncio.create_task(holder(budget, 50, log, "after", release))
    await settle()
    assert budget.waiting == 2
    waiting.cancel()
    await settle()
    assert budget.waiting == 1 and budget.in_use == 80
    release.set()
    await asyncio.gather(running, after)
    assert log == ["running", "after"] and budget.in_use == 0 and budget.waiting == 0
    with pytest.raises(asyncio.CancelledError):
        await waiting
