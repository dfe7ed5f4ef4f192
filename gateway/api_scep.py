"""`/scep/<endpoint>` (RFC 8894): passed as a request envelope to enrollment, which owns SCEP (DESIGN §5)."""
from __future__ import annotations


class ScepRoutes:
    pass
