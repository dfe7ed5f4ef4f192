"""Crash points: named places where a test can make this process kill itself with SIGKILL — a real `kill -9`.

Why: the pipeline's crash-safety claims (DESIGN §3; issue 13) are about the worst moments — a certificate signed
but not yet recorded, recorded but its message not yet acknowledged — and a kill sent from outside lands there
only by luck. The process itself knows when it is there. `CERTPLANE_CRASH_AT` arms the points:

    CERTPLANE_CRASH_AT=ca.signed            the first time this process reaches `ca.signed`
    CERTPLANE_CRASH_AT=ca.signed:3          the third time
    CERTPLANE_CRASH_AT=ca.signed,ca.committed:2

The variable is read once per process, on the first `crash_point` call. Unset (production), a call costs one
dict lookup. SIGKILL, not an exception or `os._exit`: nothing may run after it — no `finally`, no rollback sent by
the client, no nack, no atexit — exactly as when the kernel or an operator kills the process. PostgreSQL then
rolls back the open transaction when the connection drops, and RabbitMQ requeues the unacknowledged messages.
"""
from __future__ import annotations

import os
import signal
import sys
import threading

import structlog

ENV = "CERTPLANE_CRASH_AT"

log = structlog.get_logger(__name__)

_armed: dict[str, int] | None = None       # point -> the how-manieth arrival kills; None until the env is read
_reached: dict[str, int] = {}
_lock = threading.Lock()


def parse_crash_at(value: str) -> dict[str, int]:
    """`"a,b:3"` -> `{"a": 1, "b": 3}`. A malformed value raises ValueError: a crash test whose point never fires
    because of a typo in the count would pass for the wrong reason."""
    armed: dict[str, int] = {}
    for item in value.split(","):
        item = item.strip()
        if not item:
            continue
        name, sep, count = item.partition(":")
        name = name.strip()
        if not name:
            raise ValueError(f"{ENV}: {item!r} has no point name")
        if not sep:
            armed[name] = 1
            continue
        try:
            times = int(count.strip())
        except ValueError:
            raise ValueError(f"{ENV}: {item!r}: the count after ':' must be a whole number") from None
        if times < 1:
            raise ValueError(f"{ENV}: {item!r}: the count after ':' must be at least 1")
        armed[name] = times
    return armed


def _arm() -> dict[str, int]:
    global _armed
    with _lock:
        if _armed is None:
            _armed = parse_crash_at(os.environ.get(ENV, ""))
            if _armed:
                log.info("crash_points_armed", points=_armed, pid=os.getpid())
    return _armed


def crash_point(name: str) -> None:
    """Kill this process here with SIGKILL when `CERTPLANE_CRASH_AT` arms `name` and this is the armed arrival."""
    armed = _armed if _armed is not None else _arm()
    at = armed.get(name)
    if at is None:
        return
    with _lock:
        reached = _reached[name] = _reached.get(name, 0) + 1
    if reached != at:
        return
    log.warning("crash_point_reached", point=name, time=reached, pid=os.getpid())
    for stream in (sys.stderr, sys.stdout):           # the line must be in the log before the process is gone
        try:
            stream.flush()
        except Exception:  # noqa: BLE001 — a closed stream must not stop the kill
            pass
    os.kill(os.getpid(), signal.SIGKILL)


def _reset_for_tests() -> None:
    """Forget the armed points and the counts, so that the next call reads the environment again."""
    global _armed
    with _lock:
        _armed = None
        _reached.clear()
