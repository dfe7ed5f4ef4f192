"""What bench/issue.py needs to time a certificate from its request to its issue when the HTTP answer may come
before the certificate (202): what one submission was, the moments the event stores recorded, and the sums made
from them. The sums are pure functions (tested by running the bench; no clock in them); `EventStores` is the one
adapter, reading enrollment's and ca's event tables in PostgreSQL directly.

Why the event stores and not GET /api/v1/ssl/<id>: polling the API while the load runs adds requests of its own
to the very processes being measured (gateway, enrollment, RabbitMQ), and would time the poll's interval, not the
issue. The `recorded_at` of an event is the store's clock when its append began (services/runtime/store.py takes
it before the transaction), on the same machine's clock as the client's `time.time()`, so the two subtract; it is
at most the commit's duration early.

Where the tables are: `Settings.database_url_for(service)` (services/runtime/config.py) gives every service the
one CERTPLANE_DATABASE_URL with its own schema, named after the service, when the URL is PostgreSQL: so
`enrollment.events` and `ca.events` (columns of services/runtime/store.py `event_tables`). `EventStores.of` asks
that same function with the services' environment, so the bench reads what the services write.

The pipeline's steps, per request (each from two recorded moments; `submit` and `answer` are the client's):
- `submit→applied`: the gateway, enrollment's checks and its append of requested + approved + applied;
- `applied→signing`: ca's pickup of the applied event, the lint and (in the pipeline, where certificate_signing
  and certificate_issued are one append) the signature;
- `signing→issued`: ca, between its two records (today: the signature and the second append; in the pipeline 0);
- `issued→ssl_issued`: enrollment's pickup of ca's certificate_issued and its append of ssl_issued;
- `ssl_issued→answer`: enrollment noticing the outcome, the RPC answer and the gateway's HTTP answer (201s only;
  a 202 answered before its certificate was issued).
On the synchronous RPC path (before the pipeline) ca records before enrollment's one append (requested, approved,
applied and issued together), so `applied→signing` comes out negative: `is_pipeline` tells the two apart.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

PENDING_STATUSES = ("requested", "approved", "applied")     # a 202's status: the outcome is still to come
STEPS = ("submit→applied", "applied→signing", "signing→issued", "issued→ssl_issued", "ssl_issued→answer")
ENROLLMENT_TYPES = ("ssl_requested.v1", "ssl_applied.v1", "ssl_issued.v1", "ssl_issuance_failed.v1")
CA_TYPES = ("certificate_signing.v1", "certificate_issued.v1", "certificate_refused.v1")


@dataclass
class Submission:
    """One POST /api/v1/ssl: the client's wall clock (epoch seconds) around it and what it answered."""
    index: int
    submitted: float
    answered: float
    code: int
    ssl_id: str | None = None
    status: str | None = None
    problem: str | None = None          # a failure text: this request cannot count as issued
    issued_at: float | None = None      # 201: the answer; 202: ssl_issued's recorded_at, once seen

    @property
    def pending(self) -> bool:
        return self.problem is None and self.issued_at is None


def judge_answer(code: int, body: dict | None, location: str | None) -> tuple[str | None, str | None, str | None]:
    """(ssl_id, status, problem) of an answer to POST /api/v1/ssl on the auto-approved profile: 201 issued is
    done; 202 with a pending status waits for the event store; anything else (422 lint_failed, 201 requested — the
    profile would need approval —, a 5xx) is a failure."""
    body = body if isinstance(body, dict) else {}
    ssl_id = body.get("ssl_id") or (location.rstrip("/").rsplit("/", 1)[-1] if location else None)
    status = body.get("status")
    if code == 201 and status == "issued":
        return ssl_id, status, None
    if code == 202 and status in PENDING_STATUSES and ssl_id:
        return ssl_id, status, None
    error = body.get("error") if isinstance(body.get("error"), dict) else {}
    return ssl_id, status, " ".join(str(part) for part in (code, error.get("code"), f"status {status!r}") if part)


def apply_outcomes(submissions: list[Submission], issued: dict[str, float], failed: dict[str, str]) -> None:
    """Fill in each pending submission's moment of issue (or its failure) from the event store's answer."""
    for s in submissions:
        if not s.pending:
            continue
        if s.ssl_id in issued:
            s.issued_at = issued[s.ssl_id]
        elif s.ssl_id in failed:
            s.problem = f"issuance failed after {s.code}: {failed[s.ssl_id]}"


def rank(values: list[float], p: float) -> float:
    """Nearest-rank p-quantile (nan when there is none); values in any order."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p * len(ordered)) - 1)] if ordered else float("nan")


def point_summary(submissions: list[Submission]) -> dict:
    """Throughput and time to issued of one measured point. Certificates/s counts the issued ones over the time from
    the first submit to the last certificate issued (a 202 counts when its certificate is); time to issued is the
    response time for a 201 and ssl_issued's recorded_at minus the submit for a 202."""
    done = [s for s in submissions if s.issued_at is not None]
    to_issued = [(s.issued_at - s.submitted) * 1000 for s in done]
    span = (max(s.issued_at for s in done) - min(s.submitted for s in submissions)) if done else float("nan")
    problems = [f"#{s.index}: {s.problem or 'not issued in time (' + str(s.code) + ' ' + str(s.status) + ')'}"
                for s in submissions if s.issued_at is None]
    return {"rps": len(done) / span if done and span > 0 else float("nan"), "span": span,
            "p50": rank(to_issued, 0.50), "p95": rank(to_issued, 0.95), "p99": rank(to_issued, 0.99),
            "to_issued_ms": to_issued, "ok": len(done), "failed": len(problems), "failures": problems[:3],
            "answered_201": sum(1 for s in submissions if s.code == 201),
            "answered_202": sum(1 for s in submissions if s.code == 202),
            "answer_p50": rank([(s.answered - s.submitted) * 1000 for s in submissions], 0.50)}


def step_durations(submissions: list[Submission], enrollment: dict[str, dict[str, float]],
                   ca: dict[str, dict[str, float]]) -> dict[str, list[float]]:
    """Per step (STEPS), the milliseconds of every issued submission that has both ends recorded. `enrollment`
    and `ca` map ssl_id -> {event_type: recorded_at}. Without ssl_applied (not recorded on some path) the step
    starts at ssl_requested."""
    steps: dict[str, list[float]] = {name: [] for name in STEPS}
    for s in submissions:
        if s.issued_at is None or s.ssl_id is None:
            continue
        e, c = enrollment.get(s.ssl_id, {}), ca.get(s.ssl_id, {})
        applied = e.get("ssl_applied.v1", e.get("ssl_requested.v1"))
        signing, issued = c.get("certificate_signing.v1"), c.get("certificate_issued.v1")
        ssl_issued = e.get("ssl_issued.v1")
        pairs = {"submit→applied": (s.submitted, applied), "applied→signing": (applied, signing),
                 "signing→issued": (signing, issued), "issued→ssl_issued": (issued, ssl_issued),
                 "ssl_issued→answer": (ssl_issued, s.answered if s.code == 201 else None)}
        for name, (start, end) in pairs.items():
            if start is not None and end is not None:
                steps[name].append((end - start) * 1000)
    return steps


def is_pipeline(steps: dict[str, list[float]]) -> bool | None:
    """True when ca recorded after enrollment's applied (the event pipeline), False when before (the synchronous
    RPC chain: enrollment appends only once the ca has answered), None when nothing was measured."""
    values = steps.get("applied→signing") or []
    return None if not values else rank(values, 0.5) > 0


@dataclass
class EventStores:
    """Reads enrollment's and ca's event tables in the services' PostgreSQL database (autocommit: each query sees
    every committed append). The only I/O of this module."""
    conn: object
    enrollment_events: str
    ca_events: str
    polls: int = field(default=0)

    @classmethod
    def of(cls, environment: dict[str, str]) -> "EventStores":
        import psycopg
        from services.runtime.config import load_settings

        settings = load_settings(environment)
        (url, enrollment_schema), (ca_url, ca_schema) = (settings.database_url_for("enrollment"),
                                                        settings.database_url_for("ca"))
        if url != ca_url or not url.startswith("postgresql") or not (enrollment_schema and ca_schema):
            raise RuntimeError(f"the bench reads enrollment's and ca's events in one PostgreSQL database with a "
                               f"schema each; database_url_for gives {url!r} / {enrollment_schema!r} and "
                               f"{ca_url!r} / {ca_schema!r}")
        conn = psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://", 1), autocommit=True)
        stores = cls(conn, f'"{enrollment_schema}".events', f'"{ca_schema}".events')
        for table in (stores.enrollment_events, stores.ca_events):
            if conn.execute("SELECT to_regclass(%s)", (table,)).fetchone()[0] is None:
                raise RuntimeError(f"no table {table} in {url.rsplit('/', 1)[-1]}: the services have not made it "
                                   "(or the layout of services/runtime/config.py database_url_for changed)")
        return stores

    def close(self) -> None:
        self.conn.close()

    def ca_position(self) -> int:
        return self.conn.execute(f"SELECT coalesce(max(position), 0) FROM {self.ca_events}").fetchone()[0]

    def outcomes(self, ssl_ids: list[str]) -> tuple[dict[str, float], dict[str, str]]:
        """({ssl_id: ssl_issued's recorded_at}, {ssl_id: the failure's reason}) for those of `ssl_ids` that have
        an outcome (the index on (stream_id, stream_version) serves the lookup)."""
        self.polls += 1
        rows = self.conn.execute(
            f"SELECT stream_id, event_type, recorded_at, payload->>'reason' FROM {self.enrollment_events} "
            "WHERE stream_id = ANY(%s) AND event_type IN ('ssl_issued.v1', 'ssl_issuance_failed.v1')",
            ([f"ssl-{i}" for i in ssl_ids],)).fetchall()
        issued, failed = {}, {}
        for stream_id, event_type, recorded_at, reason in rows:
            ssl_id = stream_id.removeprefix("ssl-")
            if event_type == "ssl_issued.v1":
                issued[ssl_id] = recorded_at.timestamp()
            else:
                failed[ssl_id] = reason or "?"
        return issued, failed

    def wait_for_outcomes(self, submissions: list[Submission], timeout: float, interval: float = 0.1) -> None:
        """After the load: the 202s' certificates, polled from the event store (one indexed query per interval)
        until every pending one has an outcome or `timeout` seconds passed; those left count as not issued."""
        deadline = time.monotonic() + timeout
        while True:
            pending = [s.ssl_id for s in submissions if s.pending]
            if not pending:
                return
            apply_outcomes(submissions, *self.outcomes(pending))
            if not any(s.pending for s in submissions) or time.monotonic() > deadline:
                return
            time.sleep(interval)

    def recorded(self, ssl_ids: list[str], ca_after: int) -> tuple[dict[str, dict[str, float]],
                                                                   dict[str, dict[str, float]]]:
        """The recorded_at of each request's pipeline events: enrollment's by stream `ssl-<id>`, ca's by
        payload request_id `ssl:<id>` among the events after position `ca_after` (no index on the payload; the
        position bounds the scan to this point's events)."""
        enrollment: dict[str, dict[str, float]] = {}
        for stream_id, event_type, recorded_at in self.conn.execute(
                f"SELECT stream_id, event_type, recorded_at FROM {self.enrollment_events} "
                "WHERE stream_id = ANY(%s) AND event_type = ANY(%s)",
                ([f"ssl-{i}" for i in ssl_ids], list(ENROLLMENT_TYPES))):
            enrollment.setdefault(stream_id.removeprefix("ssl-"), {})[event_type] = recorded_at.timestamp()
        wanted = {f"ssl:{i}" for i in ssl_ids}
        ca: dict[str, dict[str, float]] = {}
        for request_id, event_type, recorded_at in self.conn.execute(
                f"SELECT payload->>'request_id', event_type, recorded_at FROM {self.ca_events} "
                "WHERE position > %s AND event_type = ANY(%s)", (ca_after, list(CA_TYPES))):
            if request_id in wanted:
                times = ca.setdefault(request_id.removeprefix("ssl:"), {})
                times.setdefault(event_type, recorded_at.timestamp())       # the first, if ever twice
        return enrollment, ca

    def signed_twice(self) -> dict:
        """Requests the ca signed more than once, over its whole event table: request_id values (and, where the
        events carry it, application_id values) with more than one certificate_issued.v1."""
        def count(key: str) -> tuple[int, int]:
            row = self.conn.execute(
                f"SELECT count(*) FILTER (WHERE n > 1), coalesce(sum(n), 0) FROM (SELECT payload->>'{key}' AS k, "
                f"count(*) AS n FROM {self.ca_events} WHERE event_type = 'certificate_issued.v1' "
                f"AND payload->>'{key}' IS NOT NULL GROUP BY 1) t").fetchone()
            return int(row[0]), int(row[1])
        by_request, certificates = count("request_id")
        by_application, with_application = count("application_id")
        return {"by_request_id": by_request, "by_application_id": by_application, "certificates": certificates,
                "with_application_id": with_application}
