"""How long the outside I/O of one request may take in all.

A DCV check (or an email code's CAA lookup) runs inside an RPC whose caller gives up after `rpc_timeout`. So that
a dead DNS or web server is reported as what it is — and not as "a service did not answer in time" — every lookup
of one request shares one deadline, LOOKUP_SHARE of the RPC timeout, and each lookup gets only what is left of it.
The rest of the RPC timeout is for the store and the answer.
"""
from __future__ import annotations

import time

LOOKUP_SHARE = 0.6     # of settings.rpc_timeout: all DNS and HTTP lookups of one request together


class Deadline:
    def __init__(self, seconds: float, clock=time.monotonic):
        self.seconds = seconds
        self._clock = clock
        self.at = clock() + seconds

    @classmethod
    def for_rpc(cls, rpc_timeout: float) -> "Deadline":
        """The lookup budget of one request inside an RPC with this timeout."""
        return cls(LOOKUP_SHARE * rpc_timeout)

    @property
    def expired(self) -> bool:
        return self._clock() >= self.at

    def left(self) -> float:
        """Seconds left; TimeoutError when none are."""
        left = self.at - self._clock()
        if left <= 0:
            raise TimeoutError("deadline passed")
        return left

    def earliest(self, other: "Deadline | None") -> "Deadline":
        """Whichever of the two ends first."""
        return self if other is None or self.at <= other.at else other
