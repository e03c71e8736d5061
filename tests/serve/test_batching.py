import asyncio
import threading
import time

import pytest

pytest.importorskip("fastapi", reason="the service needs the [serve] extra: pip install -e '.[serve]'")

from audiocnn.serve.batching import DynamicBatcher, QueueFullError  # noqa: E402


def run(coro):
    return asyncio.run(coro)


def test_requests_waiting_together_are_merged_up_to_max_batch():
    sizes = []

    def handler(xs):
        sizes.append(len(xs))
        return [x * 10 for x in xs]

    b = DynamicBatcher({"t": handler}, max_batch=4, max_wait_ms=200, max_queue=32).start()

    async def go():
        return await asyncio.gather(*(b.submit("t", i) for i in range(10)))

    try:
        assert run(go()) == [i * 10 for i in range(10)]
    finally:
        b.stop()
    assert sum(sizes) == 10 and max(sizes) == 4 and len(sizes) == 3  # 4 + 4 + 2


def test_a_failing_request_fails_alone():
    calls = []

    def handler(xs):
        calls.append(list(xs))
        if "bad" in xs:
            raise ValueError("cannot handle 'bad'")
        return [x.upper() for x in xs]

    b = DynamicBatcher({"t": handler}, max_batch=8, max_wait_ms=200).start()

    async def go():
        return await asyncio.gather(*(b.submit("t", x) for x in ["a", "bad", "c"]), return_exceptions=True)

    try:
        a, bad, c = run(go())
    finally:
        b.stop()
    assert (a, c) == ("A", "C")
    assert isinstance(bad, ValueError) and "bad" in str(bad)
    assert calls[0] == ["a", "bad", "c"] and ["a"] in calls and ["c"] in calls  # retried one by one


def test_kinds_go_to_their_own_handler():
    b = DynamicBatcher({"up": lambda xs: [x.upper() for x in xs], "len": lambda xs: [len(x) for x in xs]}, max_wait_ms=50).start()

    async def go():
        return await asyncio.gather(b.submit("up", "ab"), b.submit("len", "abc"), b.submit("up", "c"))

    try:
        assert run(go()) == ["AB", 3, "C"]
    finally:
        b.stop()


def test_full_queue_and_abandoned_requests():
    gate, seen = threading.Event(), []

    def handler(xs):
        seen.extend(xs)
        gate.wait(5)
        return xs

    b = DynamicBatcher({"t": handler}, max_batch=1, max_wait_ms=0, max_queue=2).start()

    async def go():
        first = asyncio.create_task(b.submit("t", "first"))
        while not seen:  # the worker holds "first"
            await asyncio.sleep(0.005)
        late = asyncio.create_task(b.submit("t", "abandoned", timeout=0.05))
        waiting = asyncio.create_task(b.submit("t", "waiting"))
        await asyncio.sleep(0.01)
        with pytest.raises(QueueFullError):
            await b.submit("t", "one too many")
        with pytest.raises(asyncio.TimeoutError):
            await late
        gate.set()
        return await first, await waiting

    try:
        assert run(go()) == ("first", "waiting")
    finally:
        b.stop()
    assert seen == ["first", "waiting"]  # the abandoned request never reached the handler


def test_stop_fails_waiting_requests_and_refuses_new_ones():
    gate = threading.Event()
    b = DynamicBatcher({"t": lambda xs: (gate.wait(5), xs)[1]}, max_batch=1, max_wait_ms=0).start()

    async def go():
        t1 = asyncio.create_task(b.submit("t", 1))
        t2 = asyncio.create_task(b.submit("t", 2))
        await asyncio.sleep(0.05)
        threading.Timer(0.05, gate.set).start()
        await asyncio.to_thread(b.stop)
        r = await asyncio.gather(t1, t2, return_exceptions=True)
        with pytest.raises(RuntimeError):
            await b.submit("t", 3)
        return r

    r1, r2 = run(go())
    assert r1 == 1 and isinstance(r2, RuntimeError) and "shutting down" in str(r2)


def test_waits_at_most_max_wait_for_a_batch_to_fill():
    b = DynamicBatcher({"t": lambda xs: xs}, max_batch=64, max_wait_ms=30).start()

    async def go():
        t0 = time.perf_counter()
        await b.submit("t", 1)
        return time.perf_counter() - t0

    try:
        assert run(go()) < 0.5
    finally:
        b.stop()
