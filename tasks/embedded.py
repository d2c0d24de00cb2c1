"""The embedded mode's Celery: a worker thread inside the web process over an in-process broker.

Why a transport of our own: kombu's `memory://` transport is a polling transport. Its worker drains the
queues, finds them empty and sleeps `polling_interval` (1 s) before looking again, so a Deep job queued
in `make run` waited up to a second (637 ms seen) before it started. A shorter interval only trades that
wait for wake-ups while idle (10 ms would be 100 a second, forever). `Transport` here is the same memory
transport (same process-wide queues and exchanges, same QoS, so acks_late, reject_on_worker_lost and
prefetch behave exactly as before) with an event-driven wait: every put, ack, reject or recover bumps a
process-wide counter under a condition variable, and a worker finding nothing to do sleeps on the condition
until the counter moves. A queued job is picked up as soon as the producer's thread has put it, and an
idle worker wakes only for the worker loop's own 2 s drain timeout and the `polling_interval` backstop
(what the stock transport does anyway). The overrides are kombu's documented extension points of a virtual
transport (`_put`, `_put_fanout`, the channel's basic_* methods and the transport's drain_events).

Selected by settings.CELERY_BROKER_TRANSPORT whenever the broker URL is `memory://`.
"""

from __future__ import annotations

import logging
import threading
from time import monotonic

from kombu.transport import memory

logger = logging.getLogger(__name__)
_started = False


class BrokerEvents:
    """A counter of things that may let a waiting consumer proceed (a message put, a prefetch slot freed)."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._count = 0

    def seen(self) -> int:
        with self._condition:
            return self._count

    def notify(self) -> None:
        with self._condition:
            self._count += 1
            self._condition.notify_all()

    def wait(self, seen: int, timeout: float | None) -> bool:
        """Wait until something happened after `seen` was read; False on timeout."""
        with self._condition:
            return self._condition.wait_for(lambda: self._count != seen, timeout)


# The memory broker's queues are process-wide, so is the signal that one of them changed.
broker_events = BrokerEvents()


class Channel(memory.Channel):
    def _put(self, queue, message, **kwargs) -> None:
        super()._put(queue, message, **kwargs)
        broker_events.notify()

    def _put_fanout(self, exchange, message, routing_key=None, **kwargs) -> None:
        super()._put_fanout(exchange, message, routing_key, **kwargs)
        broker_events.notify()

    # With acks_late a running task holds a prefetch slot until it is acked: freeing one may let a queued
    # message through, so the consumer must look again (acks come from the pool's threads).
    def basic_ack(self, delivery_tag, multiple=False) -> None:
        super().basic_ack(delivery_tag, multiple)
        broker_events.notify()

    def basic_reject(self, delivery_tag, requeue=False) -> None:
        super().basic_reject(delivery_tag, requeue)
        broker_events.notify()

    def basic_recover(self, requeue=False):
        try:
            return super().basic_recover(requeue)
        finally:
            broker_events.notify()


class Transport(memory.Transport):
    """kombu's in-memory transport, waking its consumer when a message arrives instead of polling."""

    Channel = Channel

    def drain_events(self, connection, timeout: float | None = None) -> None:
        deadline = None if timeout is None else monotonic() + timeout
        while True:
            seen = broker_events.seen()
            try:
                # timeout=0: deliver one message if there is one, else raise TimeoutError without sleeping.
                return super().drain_events(connection, timeout=0)
            except TimeoutError:  # socket.timeout, what kombu and Celery use
                pass
            wait = self.polling_interval  # backstop only: every change of the broker's state notifies
            if deadline is not None:
                remaining = deadline - monotonic()
                if remaining <= 0:
                    raise TimeoutError()
                wait = remaining if wait is None else min(wait, remaining)
            broker_events.wait(seen, wait)


def start_embedded_worker(concurrency: int = 2, ready_timeout: float = 30.0) -> None:
    """Start the web process's worker thread (thread pool) once; it runs until the process exits.

    Returns once the worker consumes (the web process starts listening only then), so a job queued right after
    start-up does not wait for the worker to boot."""
    global _started
    if _started:
        return
    _started = True
    from celery.contrib.testing.worker import start_worker

    from tasks.celery import app

    consuming = threading.Event()

    def run() -> None:
        with start_worker(
            app,
            pool="threads",
            concurrency=concurrency,
            perform_ping_check=False,
            shutdown_timeout=5,
            loglevel="WARNING",
        ):
            consuming.set()
            threading.Event().wait()

    threading.Thread(target=run, name="celery-embedded", daemon=True).start()
    if consuming.wait(ready_timeout):
        logger.info("embedded Celery worker started (in-memory broker)")
    else:
        logger.warning("embedded Celery worker not consuming after %.0f s; jobs wait until it is", ready_timeout)
