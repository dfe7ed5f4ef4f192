"""`/.well-known/est/...` (RFC 7030): passed as a request envelope to enrollment, which owns EST (DESIGN §5)."""
from __future__ import annotations


class EstRoutes:
    pass
