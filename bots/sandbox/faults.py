"""Drawing the faults of one request from its CTS's settings (``SandboxFaults``)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import StrEnum

from bots.sandbox.models import SandboxFaults

# Fault draws need no unpredictability, only independence; a module-level generator lets tests
# seed it if they ever need a fixed sequence.
_rng = random.Random()  # noqa: S311


class Answer(StrEnum):
    NORMAL = "normal"
    SERVER_ERROR = "server_error"
    THROTTLED = "throttled"


@dataclass(frozen=True)
class FaultPlan:
    """What happens to one request: wait ``latency`` first, answer normally or with an injected
    error, and after a normal answer was computed, hold it for ``hold`` seconds."""

    latency: float = 0.0
    answer: Answer = Answer.NORMAL
    retry_after: int = 0
    hold: float = 0.0


def _happens(rate: float) -> bool:
    # A rate of 1 must always fire and 0 never, whatever the generator returns.
    return rate >= 1.0 or (rate > 0.0 and _rng.random() < rate)


def fault_plan(faults: SandboxFaults) -> FaultPlan:
    latency = faults.latency_ms / 1000
    if _happens(faults.error_rate):
        return FaultPlan(latency=latency, answer=Answer.SERVER_ERROR)
    if _happens(faults.throttle_rate):
        return FaultPlan(latency=latency, answer=Answer.THROTTLED, retry_after=faults.retry_after_seconds)
    hold = faults.timeout_hold_ms / 1000 if _happens(faults.timeout_rate) else 0.0
    return FaultPlan(latency=latency, hold=hold)


def callback_dropped(faults: SandboxFaults) -> bool:
    return _happens(faults.callback_drop_rate)
