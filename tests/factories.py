"""Request bodies and events built at test time."""
from __future__ import annotations

import itertools

_counter = itertools.count(1)


def organization(**overrides) -> dict:
    n = next(_counter)
    body = {"name": f"Example Corp {n}", "address1": f"{n} Main Street", "city": "Springfield",
            "state": "Illinois", "postal_code": "62701", "country": "US"}
    body.update(overrides)
    return body


def department(**overrides) -> dict:
    body = {"name": f"Department {next(_counter)}"}
    body.update(overrides)
    return body


class WorkerInfo:
    """Stands in for runtime.nameko_glue.WorkerInfo outside a running container: fixed request metadata."""

    def metadata(self) -> dict:
        return {"correlation_id": "test-correlation", "actor": "admin:test", "causation_id": None}
