"""Simulated latency and per-operation execution time.

Every request costs ``latency_ms`` (the round trip a real org adds) plus ``op_cost_ms`` for each
operation it carries out on the server (one for a plain request, one per operation of a
``$batch``).  The operation part is the request's *execution time*: service protection
(:mod:`~d365leads.fake.pipeline.protection`) charges it against ``max_exec_ms``.

In server mode (:attr:`LatencySimulator.real_time`) the delay is really slept, while the request
still holds its place in the concurrency count, so a benchmark against the server measures what
a real org would make a client wait.  In-process the delay is only added up
(:attr:`LatencySimulator.simulated_s`) unless ``sleep_in_process`` is set; if it exceeds the
client's read timeout the response becomes a timeout, as it would on the wire.

Operations are counted per request with the thread-local meter of
:mod:`~d365leads.fake.core.metering`: the middleware (or service protection, further out) opens
one with :func:`metering`, and ``$batch`` calls :func:`note_operation` for each operation it
dispatches; a bulk operation message notes its records, charged at
``bulk_message_overhead_ops + records * bulk_message_record_cost`` operations.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from ..core.metering import Meter, current_meter, metering, note_operation
from ..core.options import FakeOptions
from ..wire.messages import FakeRequest, FakeResponse, Handler, TransportFault

__all__ = ["LatencySimulator", "Meter", "current_meter", "metering", "note_operation"]


class LatencySimulator:
    """Middleware adding latency and execution time (see the module docstring).

    ``options`` is read on every request, so changing ``fake.options.latency_ms`` takes effect
    at once.  ``sleep`` is injectable (tests pass one that blocks on an event, never a timer).
    """

    def __init__(
        self,
        options: FakeOptions | Callable[[], FakeOptions],
        *,
        sleep: Callable[[float], None] = time.sleep,
        real_time: bool = False,
    ) -> None:
        self._options = options if callable(options) else (lambda: options)
        self.sleep = sleep
        self.real_time = real_time
        self._lock = threading.Lock()
        self.simulated_s = 0.0
        self.slept_s = 0.0

    def __repr__(self) -> str:
        return (
            f"LatencySimulator(real_time={self.real_time}, simulated_s={self.simulated_s:.3f}, "
            f"slept_s={self.slept_s:.3f})"
        )

    def __call__(self, request: FakeRequest, call_next: Handler) -> FakeResponse:
        """Run ``call_next`` and then add the request's latency and execution time."""
        options = self._options()
        with metering() as meter:
            before, records_before = meter.operations, meter.records
            response = call_next(request)
            operations = max(1, meter.operations - before)
            records = meter.records - records_before
            if records:
                # A bulk message runs the pipeline once for the request, then each record at a
                # lower cost (FakeOptions.bulk_message_record_cost names the source).
                cost = (
                    options.bulk_message_overhead_ops + records * options.bulk_message_record_cost
                )
            else:
                cost = operations
            exec_ms = cost * options.op_cost_ms
            meter.exec_ms += exec_ms
        delay_s = (options.latency_ms + exec_ms) / 1000.0
        if delay_s <= 0 or response.fault is not None:
            return response
        if self.real_time or options.sleep_in_process:
            self.sleep(delay_s)
            with self._lock:
                self.slept_s += delay_s
            return response
        with self._lock:
            self.simulated_s += delay_s
        if request.timeout is not None and delay_s > request.timeout:
            # The work is done (as on a slow server) but the client gave up waiting.
            return FakeResponse(
                response.status, response.headers, response.body, TransportFault("timeout")
            )
        return response
