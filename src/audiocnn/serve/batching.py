"""Dynamic batching: concurrent requests merged into one forward pass, off the event loop.

Requests are put on a bounded queue; one worker thread takes the first waiting request, then
keeps taking more until it holds ``max_batch`` of them or ``max_wait_ms`` has passed since the
first, and hands each kind's group (``"tag"``, ``"sed"``, ``"embed"``) to that kind's handler in
one call. Results go back to the event loop through the requests' futures.

- A full queue refuses the request at once (:class:`QueueFullError`, the app answers 503 with
  ``Retry-After``): waiting requests, and so memory, stay bounded under overload.
- A request whose caller stopped waiting (timeout, client gone) is dropped before it reaches the
  model.
- A handler that raises on a group is retried request by request, so one bad request fails
  alone and never takes its batch-mates down with it.

A plain :class:`queue.Queue` carries the requests because the consumer is a thread;
``asyncio.Queue`` is not thread-safe.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["DynamicBatcher", "QueueFullError"]

log = logging.getLogger("audiocnn.serve")

Handler = Callable[[Sequence[Any]], Sequence[Any]]


class QueueFullError(RuntimeError):
    """The batcher's queue holds ``max_queue`` requests already."""


@dataclass
class _Job:
    kind: str
    payload: Any
    future: asyncio.Future
    loop: asyncio.AbstractEventLoop
    enqueued: float = field(default_factory=time.perf_counter)
    abandoned: bool = False


class DynamicBatcher:
    """One worker thread running ``handlers[kind](payloads) -> results`` on merged requests.

    Args:
        handlers: kind -> function taking a list of payloads and returning one result per
            payload (same order). Runs in the worker thread.
        max_batch: most requests taken together.
        max_wait_ms: longest wait, milliseconds, for the batch to fill after its first request.
        max_queue: most requests waiting; :meth:`submit` raises :class:`QueueFullError` beyond.
        on_batch: called as ``on_batch(kind, size, seconds)`` after each handler call (metrics).
    """

    def __init__(self, handlers: dict[str, Handler], max_batch: int = 8, max_wait_ms: float = 5.0, max_queue: int = 64, on_batch: Callable[[str, int, float], None] | None = None):
        if max_batch < 1 or max_queue < 1:
            raise ValueError(f"max_batch and max_queue must be >= 1, got {max_batch}, {max_queue}")
        self.handlers = dict(handlers)
        self.max_batch = int(max_batch)
        self.max_wait = max(float(max_wait_ms), 0.0) / 1000.0
        self.queue: queue.Queue[_Job] = queue.Queue(maxsize=int(max_queue))
        self.on_batch = on_batch
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    # -- life cycle --------------------------------------------------------------------------
    def start(self) -> DynamicBatcher:
        if self._thread is None or not self._thread.is_alive():
            self._stopping.clear()
            self._thread = threading.Thread(target=self._work, name="audiocnn-batcher", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Finish the batch in progress, fail the requests still waiting, end the thread."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
        while True:
            try:
                job = self.queue.get_nowait()
            except queue.Empty:
                break
            self._resolve(job, error=RuntimeError("the service is shutting down"))

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and not self._stopping.is_set()

    @property
    def depth(self) -> int:
        """Requests waiting (not yet taken by the worker)."""
        return self.queue.qsize()

    # -- event-loop side ---------------------------------------------------------------------
    async def submit(self, kind: str, payload: Any, timeout: float | None = None) -> Any:
        """Queue one request and wait for its result.

        Raises:
            QueueFullError: the queue is full (answer 503).
            asyncio.TimeoutError: no result within ``timeout`` seconds (the request is dropped
                if the worker has not taken it yet).
            Exception: whatever the handler raised for this request.
        """
        if kind not in self.handlers:
            raise KeyError(f"no handler for {kind!r}")
        if not self.alive:
            raise RuntimeError("the batching worker is not running")
        loop = asyncio.get_running_loop()
        job = _Job(kind, payload, loop.create_future(), loop)
        try:
            self.queue.put_nowait(job)
        except queue.Full:
            raise QueueFullError(f"{self.queue.maxsize} requests are already waiting") from None
        try:
            return await asyncio.wait_for(asyncio.shield(job.future), timeout)
        except (asyncio.TimeoutError, asyncio.CancelledError):
            job.abandoned = True
            raise

    # -- worker side -------------------------------------------------------------------------
    def _gather(self, first: _Job) -> list[_Job]:
        batch = [first]
        deadline = time.perf_counter() + self.max_wait
        while len(batch) < self.max_batch:
            try:  # whatever is already waiting joins without delay
                job = self.queue.get_nowait()
            except queue.Empty:
                remaining = deadline - time.perf_counter()
                if remaining <= 0:
                    break
                try:
                    job = self.queue.get(timeout=remaining)
                except queue.Empty:
                    break
            batch.append(job)
        return batch

    def _work(self) -> None:
        while not self._stopping.is_set():
            try:
                first = self.queue.get(timeout=0.1)
            except queue.Empty:
                continue
            batch = [j for j in self._gather(first) if not j.abandoned]
            kinds: dict[str, list[_Job]] = {}
            for job in batch:
                kinds.setdefault(job.kind, []).append(job)
            for kind, jobs in kinds.items():
                self._run(kind, jobs)

    def _run(self, kind: str, jobs: list[_Job]) -> None:
        handler = self.handlers[kind]
        t0 = time.perf_counter()
        try:
            results = list(handler([j.payload for j in jobs]))
            if len(results) != len(jobs):
                raise RuntimeError(f"{kind} handler returned {len(results)} results for {len(jobs)} requests")
        except Exception as e:  # noqa: BLE001 - isolate the request that caused it
            if len(jobs) == 1:
                log.exception("%s request failed", kind)
                self._report(kind, 1, t0)
                self._resolve(jobs[0], error=e)
                return
            log.warning("%s batch of %d failed (%s: %s); running its requests one by one", kind, len(jobs), type(e).__name__, e)
            for job in jobs:
                self._run(kind, [job])
            return
        self._report(kind, len(jobs), t0)
        for job, result in zip(jobs, results):
            self._resolve(job, result=result)

    def _report(self, kind: str, size: int, t0: float) -> None:
        if self.on_batch is not None:
            try:
                self.on_batch(kind, size, time.perf_counter() - t0)
            except Exception:  # noqa: BLE001 - metrics must never stop the worker
                log.exception("batch metrics callback failed")

    @staticmethod
    def _resolve(job: _Job, result: Any = None, error: BaseException | None = None) -> None:
        def settle():
            if job.future.done():
                return
            if error is not None:
                job.future.set_exception(error)
            else:
                job.future.set_result(result)

        try:
            job.loop.call_soon_threadsafe(settle)
        except RuntimeError:  # the loop is closed: nobody is waiting any more
            pass
