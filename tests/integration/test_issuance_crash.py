"""Crash safety of the issuance pipeline (issue 13) on RabbitMQ and PostgreSQL, with real `kill -9`s.

`ca` and `enrollment` run as their own processes beside the cluster's orgs, identity and gateway (and a `domains`).
A process is started with CERTPLANE_CRASH_AT (services/runtime/faults.py) to kill itself at the worst moments —
a certificate signed but not recorded (`ca.signed`), recorded but its message not acknowledged (`ca.committed`),
a request appended but not answered (`enrollment.recorded`), an outcome built but not committed
(`enrollment.outcome`) — or is killed from outside at random moments under load. Then it is started again without
the variable, and the pipeline must end where it would have without the crash:

- no acknowledged request (answered 201/202) is lost: it ends `issued`;
- no request gets two certificates (one `certificate_signing.v1` and one `certificate_issued.v1` per request_id,
  one per application_id), and one POST is one request, even when the RPC enrollment died in is redelivered to
  it after the restart;
- no signed certificate is left out of the inventory: every certificate ca recorded for `ssl:<id>` is the
  certificate of inventory row <id>, with the same serial (checked on PostgreSQL, ca's events against
  enrollment's events and read model, after every test).

Every wait is a poll with a deadline that fails with what it waited for; nothing asserts after a bare sleep.
"""
from __future__ import annotations

import base64
import os
import random
import signal
import threading
import time
from collections import Counter

import pytest
import requests
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric import ec

from services.runtime.faults import ENV as CRASH_AT
from tests import factories
from tests.support import CertplaneProcess, free_port, wait_until

ORG = {"address1": "1 Main St", "city": "Berlin", "state": "Berlin", "country": "DE"}
ISSUANCE_WAIT = 3           # seconds enrollment waits for the outcome before it answers 202 (default 5)
OUTCOME_DEADLINE = 90.0     # a crashed process restarted: how long the pipeline may take to finish a request
NOT_ANSWERED = 0            # the status recorded for a request whose HTTP call raised (connection lost)


# ---- the processes ---------------------------------------------------------------------------------------------

class Pipeline:
    """domains, enrollment and ca (and a second ca on demand) as `certplane run` processes. Each keeps one
    CertplaneProcess, so a restart writes the next numbered log file (ca.1.log, ca.2.log, ...)."""

    SERVICES = {"domains": "domains", "enrollment": "enrollment", "ca": "ca", "ca-2": "ca"}

    def __init__(self, cluster, log_dir):
        self.cluster = cluster
        self.log_dir = log_dir
        env = {k: v for k, v in cluster.gateway.env.items() if k.startswith(("AMQP", "CERTPLANE"))
               and k not in ("CERTPLANE_HTTP_PORT", CRASH_AT)}
        # the followers also pull every second: these tests are about what survives a crash, not push latency
        env.update(CERTPLANE_CA_KEK=base64.b64encode(os.urandom(32)).decode(), CERTPLANE_CATCH_UP_INTERVAL="1",
                   CERTPLANE_CRL_CHECK_INTERVAL="60", CERTPLANE_ISSUANCE_WAIT=str(ISSUANCE_WAIT),
                   CERTPLANE_PUBLIC_BASE_URL="http://pki.certplane-crash.example.com")
        self.env = env
        self.processes: dict[str, tuple[CertplaneProcess, int]] = {}

    def start(self, name: str, crash_at: str | None = None) -> CertplaneProcess:
        """Start `name` (again), armed with `crash_at` or not, and wait until it is ready."""
        if name not in self.processes:
            port = free_port()
            process = CertplaneProcess(name, ["run", self.SERVICES[name]],
                                       {**self.env, "CERTPLANE_HEALTH_PORT": str(port)}, self.log_dir)
            self.processes[name] = (process, port)
        process, port = self.processes[name]
        assert process.proc is None or process.proc.poll() is not None, f"{name} is already running"
        process.env.pop(CRASH_AT, None)                  # never inherited from the runner's environment
        if crash_at:
            process.env[CRASH_AT] = crash_at
        process.start().wait_ready(f"http://127.0.0.1:{port}/readyz")
        return process

    def restart(self, name: str, crash_at: str | None = None) -> CertplaneProcess:
        self.stop(name)
        return self.start(name, crash_at)

    def stop(self, name: str) -> None:
        if name in self.processes:
            self.processes[name][0].stop()

    def running(self, name: str) -> bool:
        process = self.processes.get(name, (None, 0))[0]
        return process is not None and process.proc is not None and process.proc.poll() is None

    def armed(self, name: str) -> bool:
        return name in self.processes and CRASH_AT in self.processes[name][0].env

    def kill9(self, name: str) -> None:
        """kill -9 from outside, by pid."""
        process = self.processes[name][0]
        os.kill(process.proc.pid, signal.SIGKILL)
        process.proc.wait(30)

    def wait_crashed_at(self, name: str, point: str, timeout: float = 60.0) -> None:
        """`name` killed itself at `point`: exited by SIGKILL with the crash point's log line."""
        process = self.processes[name][0]
        deadline = time.monotonic() + timeout
        while process.proc.poll() is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"{name} did not reach crash point {point} ({CRASH_AT}) within {timeout:.0f} s "
                                     f"(is crash_point({point!r}) called on this path?):\n{process.output()[-3000:]}")
            time.sleep(0.1)
        output = process.output()
        assert process.proc.returncode == -signal.SIGKILL, \
            f"{name} exited with {process.proc.returncode}, not by its crash point {point}:\n{output[-3000:]}"
        assert "crash_point_reached" in output and point in output, f"{name} died elsewhere:\n{output[-3000:]}"

    def stop_all(self) -> None:
        for process, _port in reversed(list(self.processes.values())):
            process.stop()


@pytest.fixture(scope="module")
def pipeline(cluster, tmp_path_factory):
    pipeline = Pipeline(cluster, tmp_path_factory.mktemp("crash-logs"))
    try:
        for name in ("domains", "enrollment", "ca"):
            pipeline.start(name)
        # the hierarchy is made by the first ca start, unarmed: the crash points are about issuing, not that
        wait_until(lambda: len(cluster.http("GET", "/api/v1/cas").json().get("items", [])) >= 2, 60, 0.3,
                   "the CAs exist")
        wait_until(lambda: [p for p in cluster.http("GET", "/api/v1/profiles").json().get("items", [])
                            if p["cert_type"] == "ssl"], 60, 0.3, "the default SSL profile exists")
        yield pipeline
    finally:
        pipeline.stop_all()


@pytest.fixture
def crash(pipeline):
    """The pipeline as each test finds it: domains, enrollment and one ca running, none armed (whatever the test
    before left dead or armed is started again plainly)."""
    for name in ("domains", "enrollment", "ca"):
        if pipeline.armed(name) or not pipeline.running(name):
            pipeline.restart(name)
    if pipeline.running("ca-2"):
        pipeline.stop("ca-2")
    return pipeline


# ---- helpers ----------------------------------------------------------------------------------------------------

def set_up(cluster, label: str) -> dict:
    """An organization with a domain delegated to it for ssl, and the default SSL profile; the operator (MRAO)
    holds "SSL auto approve", so each request is approved and applied in the append that records it."""
    org = cluster.http("POST", "/api/v1/organizations", json={"name": f"Crash {label}", **ORG})
    assert org.status_code == 201, org.text
    organization_id = org.json()["organization_id"]
    domain = f"{label}.crash.example.com"
    created = cluster.http("POST", "/api/v1/domains", json={"name": domain, "delegations": [
        {"organization_id": organization_id, "cert_types": ["ssl"]}]})
    assert created.status_code == 201, created.text
    profiles = cluster.http("GET", "/api/v1/profiles").json()["items"]
    profile = next(p for p in profiles if p["cert_type"] == "ssl")
    return {"organization_id": organization_id, "profile_id": profile["profile_id"], "domain": domain}


def ssl_body(setup: dict, name: str) -> dict:
    key = ec.generate_private_key(ec.SECP256R1())            # a key of its own: every certificate is distinct
    return {"organization_id": setup["organization_id"], "profile_id": setup["profile_id"], "term_days": 90,
            "csr": factories.csr("ec-p256", cn=name, sans=(name,), key=key).decode()}


# refused before anything is recorded because enrollment's read models (of domains' delegations, of orgs'
# organizations) have not caught up with a set-up made a moment ago, or are not confirmed current while it starts
NOT_KNOWN_YET = {(404, "not_found"), (422, "names_not_allowed"), (503, "facts_not_current")}


def _not_known_yet(response: requests.Response) -> bool:
    """The one kind of refusal worth retrying here: it recorded nothing, and time alone cures it."""
    if response.status_code not in {status for status, _code in NOT_KNOWN_YET}:
        return False
    return (response.status_code, response.json().get("error", {}).get("code")) in NOT_KNOWN_YET


def request_ssl(cluster, setup: dict, name: str, timeout: float = 30.0) -> requests.Response:
    """POST /api/v1/ssl, retried while the set-up is not yet known to enrollment (those refusals record nothing)."""
    body = ssl_body(setup, name)
    deadline = time.monotonic() + timeout
    while True:
        response = cluster.http("POST", "/api/v1/ssl", json=body)
        if not _not_known_yet(response) or time.monotonic() > deadline:
            return response
        time.sleep(0.3)


def ssl_list(cluster, organization_id: str) -> list[dict]:
    answer = cluster.http("GET", "/api/v1/ssl", params={"organization_id": organization_id, "size": 200})
    assert answer.status_code == 200, answer.text
    return answer.json()["items"]


def wait_issued(cluster, ssl_id: str, timeout: float = OUTCOME_DEADLINE) -> dict:
    last = {}

    def issued():
        nonlocal last
        answer = cluster.http("GET", f"/api/v1/ssl/{ssl_id}")
        if answer.status_code != 200:
            last = {"http_status": answer.status_code, "body": answer.text[:300]}
            return None
        last = answer.json()
        return last if last["status"] == "issued" else None
    try:
        return wait_until(issued, timeout, 0.3, f"request {ssl_id} is issued")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; last seen: status {last.get('status')!r}, last_error "
                             f"{last.get('last_error')!r} {last if 'http_status' in last else ''}") from None


def _rows(engine, sql: str, **params) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(sql), params)]


def ca_certificates(engine, request_id: str | None = None) -> list[dict]:
    """The certificates ca recorded: its certificate_issued.v1 events."""
    sql = ("SELECT payload->>'request_id', payload->>'serial', payload->>'application_id', stream_id "
           "FROM ca.events WHERE event_type = 'certificate_issued.v1'")
    if request_id is not None:
        sql += " AND payload->>'request_id' = :request_id"
    return [{"request_id": r, "serial": s.lower(), "application_id": a, "stream_id": st}
            for r, s, a, st in _rows(engine, sql + " ORDER BY position", request_id=request_id)]


def ca_signings(engine, request_id: str) -> int:
    return _rows(engine, "SELECT count(*) FROM ca.events WHERE event_type = 'certificate_signing.v1' "
                         "AND payload->>'request_id' = :request_id", request_id=request_id)[0][0]


def enrollment_issued_events(engine, ssl_id: str | None = None) -> list[dict]:
    sql = "SELECT stream_id, payload->>'serial' FROM enrollment.events WHERE event_type = 'ssl_issued.v1'"
    if ssl_id is not None:
        sql += " AND stream_id = :stream"
    return [{"stream_id": st, "serial": (s or "").lower()}
            for st, s in _rows(engine, sql + " ORDER BY position", stream=f"ssl-{ssl_id}")]


def inventory(engine) -> dict[str, dict]:
    return {i: {"status": st, "serial": (s or "").lower() or None}
            for i, st, s in _rows(engine, "SELECT ssl_id, status, serial FROM enrollment.ssl_certificates")}


def invariant_violations(engine) -> list[str]:
    """What breaks "every certificate ca recorded is in the inventory, once, with its serial", both ways."""
    problems = []
    certificates = ca_certificates(engine)
    for request_id, n in Counter(c["request_id"] for c in certificates).items():
        if n > 1:
            problems.append(f"{n} certificate_issued.v1 for request {request_id}")
    for application_id, n in Counter(c["application_id"] for c in certificates if c["application_id"]).items():
        if n > 1:
            problems.append(f"{n} certificate_issued.v1 for application {application_id}")
    signings = Counter(r for (r,) in _rows(engine, "SELECT payload->>'request_id' FROM ca.events "
                                                    "WHERE event_type = 'certificate_signing.v1'"))
    for request_id, n in signings.items():
        if n > 1:
            problems.append(f"{n} certificate_signing.v1 for request {request_id}")
    rows = inventory(engine)
    outcomes = enrollment_issued_events(engine)
    for stream_id, n in Counter(e["stream_id"] for e in outcomes).items():
        if n > 1:
            problems.append(f"{n} ssl_issued.v1 in stream {stream_id}")
    recorded = {(c["request_id"], c["serial"]) for c in certificates}
    for e in outcomes:
        request_id = "ssl:" + e["stream_id"].removeprefix("ssl-")
        if (request_id, e["serial"]) not in recorded:
            problems.append(f"ssl_issued.v1 in {e['stream_id']} names serial {e['serial']}, which ca did not "
                            f"record for {request_id}")
    by_serial = {}
    for c in certificates:
        by_serial[c["serial"]] = c
        if not (c["request_id"] or "").startswith("ssl:"):
            continue
        ssl_id = c["request_id"].split(":", 1)[1]
        row = rows.get(ssl_id)
        if row is None:
            problems.append(f"certificate {c['serial']} of {c['request_id']}: no such request in the inventory")
        elif row["serial"] != c["serial"]:
            problems.append(f"certificate {c['serial']} of {c['request_id']} is not in the inventory (the row has "
                            f"serial {row['serial']!r}, status {row['status']})")
    for ssl_id, row in rows.items():
        if row["serial"] and (row["serial"] not in by_serial
                              or by_serial[row["serial"]]["request_id"] != f"ssl:{ssl_id}"):
            problems.append(f"inventory row {ssl_id} shows serial {row['serial']}, which ca did not record for it")
    return problems


def assert_inventory_holds_every_certificate(engine, timeout: float = OUTCOME_DEADLINE) -> None:
    """The global invariant, given the time an outcome takes to reach enrollment."""
    problems = []

    def holds():
        nonlocal problems
        problems = invariant_violations(engine)
        return not problems
    try:
        wait_until(holds, timeout, 0.5, "every certificate ca recorded is in the inventory, once, with its serial")
    except AssertionError as exc:
        raise AssertionError(f"{exc}:\n  " + "\n  ".join(problems[:20])) from None


def _one_request_for_one_post(cluster, setup: dict) -> None:
    """Checked once the request is issued, i.e. after the restarted enrollment has taken whatever RabbitMQ
    redelivered to it: the RPC that enrollment died in was never acknowledged, so it comes again, and it must not
    record the client's one POST a second time."""
    items = ssl_list(cluster, setup["organization_id"])
    assert len(items) == 1, f"one POST, {len(items)} requests: {[(i['ssl_id'], i['status']) for i in items]}"


def post_in_background(cluster, setup: dict, name: str) -> tuple[threading.Thread, dict]:
    """POST /api/v1/ssl in a thread (the gateway holds the call until its RPC times out when the callee dies)."""
    outcome: dict = {}

    def run():
        try:
            outcome["response"] = request_ssl(cluster, setup, name)
        except requests.RequestException as exc:
            outcome["error"] = exc
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


# ---- 1-4: a crash at each point -------------------------------------------------------------------------------

def test_ca_killed_between_signature_and_record_signs_again_once_after_restart(cluster, crash):
    setup = set_up(cluster, "signed")
    crash.restart("ca", crash_at="ca.signed")
    answer = request_ssl(cluster, setup, f"www.{setup['domain']}")
    crash.wait_crashed_at("ca", "ca.signed")
    assert answer.status_code == 202, answer.text           # recorded and applied; no outcome while ca is dead
    view = answer.json()
    assert view["status"] == "applied" and answer.headers["Location"] == f"/api/v1/ssl/{view['ssl_id']}"
    request_id = f"ssl:{view['ssl_id']}"
    # signed in memory, never recorded: the kill took the transaction with it
    assert ca_certificates(cluster.engine, request_id) == [] and ca_signings(cluster.engine, request_id) == 0

    crash.start("ca")                                                     # without CERTPLANE_CRASH_AT
    issued = wait_issued(cluster, view["ssl_id"])
    [certificate] = ca_certificates(cluster.engine, request_id)
    assert issued["serial"].lower() == certificate["serial"]
    assert ca_signings(cluster.engine, request_id) == 1
    assert [e["serial"] for e in enrollment_issued_events(cluster.engine, view["ssl_id"])] == [certificate["serial"]]
    assert_inventory_holds_every_certificate(cluster.engine)


def test_ca_killed_after_its_record_before_the_ack_issues_nothing_more_after_restart(cluster, crash):
    setup = set_up(cluster, "committed")
    crash.restart("ca", crash_at="ca.committed")
    answer = request_ssl(cluster, setup, f"www.{setup['domain']}")
    crash.wait_crashed_at("ca", "ca.committed")
    # the certificate is recorded; its outcome may even have reached enrollment (a pull) before the answer
    assert answer.status_code in (201, 202), answer.text
    ssl_id = answer.json()["ssl_id"]
    request_id = f"ssl:{ssl_id}"
    [recorded] = ca_certificates(cluster.engine, request_id)

    crash.start("ca")                        # the applied message comes again (never acked): nothing new is signed
    issued = wait_issued(cluster, ssl_id)
    assert ca_certificates(cluster.engine, request_id) == [recorded]
    assert issued["serial"].lower() == recorded["serial"]
    # a redelivered message is settled by the tracking row, not by signing again and throwing the result away
    assert ca_signings(cluster.engine, request_id) == 1
    assert_inventory_holds_every_certificate(cluster.engine)


def test_enrollment_killed_before_committing_the_outcome_records_it_after_restart(cluster, crash):
    setup = set_up(cluster, "outcome")
    crash.restart("enrollment", crash_at="enrollment.outcome")
    thread, outcome = post_in_background(cluster, setup, f"www.{setup['domain']}")
    crash.wait_crashed_at("enrollment", "enrollment.outcome")
    thread.join(60)
    assert not thread.is_alive(), "the POST did not return within 60 s of enrollment's death"
    if "response" in outcome:                     # the outcome was never committed: the client cannot have seen it
        assert outcome["response"].status_code != 201, outcome["response"].text

    crash.start("enrollment")
    items = wait_until(lambda: ssl_list(cluster, setup["organization_id"]), 60, 0.3, "the request is in the inventory")
    ssl_id = items[0]["ssl_id"]
    issued = wait_issued(cluster, ssl_id)
    _one_request_for_one_post(cluster, setup)
    [certificate] = ca_certificates(cluster.engine, f"ssl:{ssl_id}")
    assert issued["serial"].lower() == certificate["serial"]
    assert [e["serial"] for e in enrollment_issued_events(cluster.engine, ssl_id)] == [certificate["serial"]]
    assert_inventory_holds_every_certificate(cluster.engine)


def test_enrollment_killed_after_recording_before_answering_issues_the_request_anyway(cluster, crash):
    setup = set_up(cluster, "recorded")
    crash.restart("enrollment", crash_at="enrollment.recorded")
    thread, outcome = post_in_background(cluster, setup, f"www.{setup['domain']}")
    crash.wait_crashed_at("enrollment", "enrollment.recorded")
    thread.join(60)
    assert not thread.is_alive(), "the POST did not return within 60 s of enrollment's death"
    status = outcome["response"].status_code if "response" in outcome else NOT_ANSWERED
    # never acknowledged: the gateway says its callee did not answer (503 here), never a 2xx
    assert not 200 <= status < 300, outcome["response"].text if "response" in outcome else outcome

    crash.start("enrollment")
    items = wait_until(lambda: ssl_list(cluster, setup["organization_id"]), 60, 0.3,
                       "the recorded request is in the inventory")
    issued = wait_issued(cluster, items[0]["ssl_id"])
    _one_request_for_one_post(cluster, setup)
    [certificate] = ca_certificates(cluster.engine, f"ssl:{issued['ssl_id']}")
    assert issued["serial"].lower() == certificate["serial"]
    assert_inventory_holds_every_certificate(cluster.engine)


# ---- 5: two ca replicas under load, one of them killed twice ----------------------------------------------------

REQUESTS = 40
CLIENTS = 4


def test_load_with_two_ca_replicas_and_random_kills_loses_nothing_and_signs_nothing_twice(cluster, crash):
    crash.start("ca-2")
    setup = set_up(cluster, "load")
    # the set-up has reached enrollment (its read models) before the load starts: one request, answered
    first = request_ssl(cluster, setup, f"warm.{setup['domain']}")
    assert first.status_code in (201, 202), first.text
    seed = int(os.environ.get("CERTPLANE_CRASH_SEED", random.randrange(1 << 30)))
    chance = random.Random(seed)
    print(f"\nrandom kills: CERTPLANE_CRASH_SEED={seed}")
    # kill at random moments inside the load: after a random number of answers (the second counted from when the
    # first kill's restart is ready: a restart takes seconds), plus a random fraction of a second; each client
    # thinks a random moment between requests, so that the load outlasts a restart
    first_after, second_gap = chance.randint(2, 8), chance.randint(1, 4)
    jitter = [chance.uniform(0.0, 0.4) for _ in range(2)]
    think = [chance.uniform(0.1, 0.6) for _ in range(REQUESTS)]

    answers: list[tuple[str, int, dict]] = []      # (name, HTTP status, body)
    lock = threading.Lock()
    names = [f"n{i}.{setup['domain']}" for i in range(REQUESTS)]

    def client(mine: list[int]):
        for i in mine:
            name = names[i]
            time.sleep(think[i])
            try:
                response = cluster.http("POST", "/api/v1/ssl", json=ssl_body(setup, name))
                status, body = response.status_code, (response.json() if response.content else {})
            except requests.RequestException as exc:
                status, body = NOT_ANSWERED, {"error": repr(exc)}
            with lock:
                answers.append((name, status, body))

    kills: list[int] = []                          # how many answers there were at each kill
    killer_failed: list[BaseException] = []

    def killer():
        try:
            after = first_after
            for delay in jitter:
                wait_until(lambda: len(answers) >= after, 120, 0.05, f"{after} answers before a kill")
                time.sleep(delay)
                kills.append(len(answers))
                crash.kill9("ca")
                crash.start("ca")
                after = min(len(answers) + second_gap, REQUESTS - 2)
        except BaseException as exc:  # noqa: BLE001 — reported by the test below
            killer_failed.append(exc)

    threads = [threading.Thread(target=client, args=(list(range(i, REQUESTS, CLIENTS)),), daemon=True)
               for i in range(CLIENTS)]
    threads.append(threading.Thread(target=killer, daemon=True))
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    assert not any(t.is_alive() for t in threads), "the load or the killer did not finish within 300 s"
    assert not killer_failed, f"the killer failed: {killer_failed[0]!r}"
    print(f"{REQUESTS} requests from {CLIENTS} clients in {time.monotonic() - started:.1f} s; ca killed after "
          f"{kills} answers; answers {dict(Counter(s for _n, s, _b in answers))}, statuses "
          f"{dict(Counter(b.get('status') for _n, _s, b in answers))}")
    assert len(kills) == 2 and kills[0] < REQUESTS, f"a kill landed outside the load: after {kills} answers"

    # ca is not on the request's path: a ca replica dying under it costs no answer
    refused = [(n, s, b) for n, s, b in answers if s not in (201, 202)]
    assert not refused, f"{len(refused)} requests not acknowledged: {refused[:3]}"
    acknowledged = {b["ssl_id"]: n for n, s, b in answers}
    assert len(acknowledged) == REQUESTS

    def all_issued():
        statuses = {i["ssl_id"]: i["status"] for i in ssl_list(cluster, setup["organization_id"])}
        waiting = {i: statuses.get(i) for i in acknowledged if statuses.get(i) != "issued"}
        return None if waiting else statuses
    try:
        statuses = wait_until(all_issued, OUTCOME_DEADLINE, 0.5, "every acknowledged request is issued")
    except AssertionError:
        statuses = {i["ssl_id"]: i["status"] for i in ssl_list(cluster, setup["organization_id"])}
        raise AssertionError(f"not issued within {OUTCOME_DEADLINE:.0f} s: "
                             f"{Counter(statuses.get(i) for i in acknowledged)}") from None
    assert len(statuses) == REQUESTS + 1, f"{REQUESTS + 1} POSTs acknowledged, {len(statuses)} requests recorded"

    assert_inventory_holds_every_certificate(cluster.engine)
    for ssl_id in acknowledged:
        assert len(ca_certificates(cluster.engine, f"ssl:{ssl_id}")) == 1
