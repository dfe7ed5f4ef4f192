"""The one place the gateway decides who is asking.

Until the identity service lands, every caller is the same anonymous actor and the API is documented as
unauthenticated. Every route calls `authenticate` first, so bearer tokens and API keys plug in here, and scope
checks (DESIGN §6) next to it, without touching the routes.
"""
from __future__ import annotations

from dataclasses import dataclass

from werkzeug.wrappers import Request


@dataclass(frozen=True)
class Actor:
    actor_id: str
    kind: str          # anonymous | admin | api_key

    def __str__(self) -> str:
        return f"{self.kind}:{self.actor_id}"


ANONYMOUS = Actor("anonymous", "anonymous")


def authenticate(request: Request) -> Actor:
    return ANONYMOUS
