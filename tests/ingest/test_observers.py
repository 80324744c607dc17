"""Who is told the stored points: once per read, in order, and, when stopped while
telling, the observers not yet told are told before leaving."""

from __future__ import annotations

import asyncio

from makerwatch.core.points import Point
from makerwatch.ingest.pipeline import Observer, Observers


def _point(seq: int) -> Point:
    return Point("telemetry", {"device": "solder-1"}, {"seq": seq}, 1_765_000_000_000 + seq)


async def test_observers_are_told_once_what_arrived_together_in_order() -> None:
    """Test that every observer sees every point once, in the order handed on, and that a
    fault in one is logged without keeping the points from the others."""
    seen: dict[str, list[int]] = {"first": [], "second": []}

    async def first(points: list[Point]) -> None:
        seen["first"] += [int(p.fields["seq"]) for p in points]
        raise RuntimeError("a fault of the first observer")

    async def second(points: list[Point]) -> None:
        seen["second"] += [int(p.fields["seq"]) for p in points]

    observers = Observers()
    observers.add("first", first)
    observers.add("second", second)
    observers.handed_on([_point(1), _point(2)])
    observers.handed_on([_point(3)])
    await observers.tell()
    await observers.tell()  # nothing new: nobody is told again
    observers.handed_on([_point(4)])
    await observers.tell()
    assert seen == {"first": [1, 2, 3, 4], "second": [1, 2, 3, 4]}


async def test_stopped_while_telling_the_rest_are_told_before_leaving() -> None:
    """Test that a stop (cancellation) while one observer is busy leaves the observers
    after it to be told those points first on the next tell, and nobody twice."""
    seen: dict[str, list[int]] = {"alerts": [], "floor": [], "cards": []}
    busy = asyncio.Event()

    def recorder(name: str, waits: bool = False) -> Observer:
        async def observe(points: list[Point]) -> None:
            seen[name] += [int(p.fields["seq"]) for p in points]
            if waits and len(seen[name]) == 2:
                busy.set()
                await asyncio.Event().wait()  # busy until the stop

        return observe

    observers = Observers()
    observers.add("alerts", recorder("alerts"))
    observers.add("floor", recorder("floor", waits=True))
    observers.add("cards", recorder("cards"))
    observers.handed_on([_point(1), _point(2)])
    telling = asyncio.create_task(observers.tell())
    await busy.wait()
    telling.cancel()
    await asyncio.gather(telling, return_exceptions=True)
    assert seen == {"alerts": [1, 2], "floor": [1, 2], "cards": []}
    observers.handed_on([_point(3)])
    await observers.tell()  # as the pipeline does before leaving
    assert seen == {"alerts": [1, 2, 3], "floor": [1, 2, 3], "cards": [1, 2, 3]}
