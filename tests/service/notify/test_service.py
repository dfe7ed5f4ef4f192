"""NotifyService in a running nameko container, embedded mode (kombu memory:// transport, SQLite under a temp dir),
beside a stand-in `domains` service: a tiny real nameko service that serves `read_events` and `dcv_mail` from
lists the test fills, and whose events the test publishes to `domains.events` as the real relay would.

No SMTP host is configured, so mail goes to the outbox — what a new user of embedded mode gets."""
from __future__ import annotations

import itertools
import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from kombu import Connection
from nameko.rpc import rpc
from nameko.standalone.events import event_dispatcher
from nameko.testing.services import entrypoint_hook
from nameko.testing.utils import get_container

from contracts.errors import EXPECTED, NotFound
from services.notify import domain
from services.notify.service import NotifyService
from services.runtime.config import Settings
from services.runtime.nameko_glue import FollowerProvider
from tests.smtp_server import SmtpServer


class Domains:
    """What the stand-in `domains` service knows: its log (envelope messages) and the mails it would render."""

    def __init__(self):
        self.log: list[dict] = []
        self.mails: dict[str, dict] = {}
        self.dcv_mail_calls: list[str] = []
        self.crash_next = 0             # how many dcv_mail calls to fail with an unexpected error first
        self._positions = itertools.count(1)

    def dcv_started(self, method: str, dcv_id: str | None = None, expires_in=timedelta(days=30)) -> dict:
        dcv_id = dcv_id or str(uuid.uuid4())
        now = datetime.now(timezone.utc)
        email = method == "email"
        payload = {"domain_id": str(uuid.uuid4()), "name": "example.com", "dcv_id": dcv_id, "method": method,
                   "email_address": "admin@example.com" if email else None, "http_url": None,
                   "dns_name": None if email else "_pki-validation.example.com",
                   "expected_value": None if email else "public-random-value",
                   "token_expires_at": (now + expires_in).isoformat(), "started_by": "admin-1"}
        message = {"event_id": str(uuid.uuid4()), "event_type": "dcv_started.v1", "source": "domains",
                   "stream_id": f"domain-{payload['domain_id']}", "stream_version": 1,
                   "position": next(self._positions), "occurred_at": now.isoformat(),
                   "correlation_id": "corr-1", "causation_id": None, "actor": "admin:admin-1", "payload": payload,
                   "hash": None}
        self.log.append(message)
        return message

    def will_render(self, dcv_id: str, code: str) -> None:
        self.mails[dcv_id] = {"to": "admin@example.com", "subject": "Domain control validation for example.com",
                              "text": f"Your validation code is {code}.\n"}


DOMAINS = Domains()


class DomainsStandIn:
    name = "domains"

    @rpc
    def read_events(self, after: int, limit: int = 500) -> list[dict]:
        return [m for m in DOMAINS.log if m["position"] > after][:limit]

    @rpc(expected_exceptions=EXPECTED)
    def dcv_mail(self, dcv_id: str) -> dict:
        DOMAINS.dcv_mail_calls.append(dcv_id)
        if DOMAINS.crash_next:
            DOMAINS.crash_next -= 1
            raise RuntimeError("domains had a bad moment")
        if dcv_id not in DOMAINS.mails:
            raise NotFound.of("dcv", dcv_id)
        return DOMAINS.mails[dcv_id]


class Harness:
    def __init__(self, config: dict, container):
        self.container = container
        self._dispatch = event_dispatcher(config)

    def push(self, message: dict) -> None:
        """Publish as the domains relay does: exchange domains.events, routing key = event type."""
        self._dispatch("domains", message["event_type"], message)

    def call(self, method: str, *args):
        """Run one of notify's RPC entrypoints in a worker of the running container (nameko's entrypoint_hook;
        a standalone RPC proxy would poll the memory broker once a second)."""
        with entrypoint_hook(self.container, method) as entrypoint:
            return entrypoint(*args)

    def outbox(self) -> list[dict]:
        return self.call("list_outbox", 0, 100)["items"]

    def messages(self) -> list[dict]:
        return self.call("list_messages", 0, 100)["items"]

    def notify_events(self) -> list[dict]:
        return self.call("read_events", 0, 100)

    def wait(self, predicate, timeout: float = 10.0, what: str = "condition"):
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            time.sleep(0.05)

    @property
    def follower(self):
        [provider] = [d for d in self.container.dependencies
                      if isinstance(d, FollowerProvider) and d.source == "domains"]
        return provider.follower

    def rebuild_read_model(self) -> None:
        """What `certplane projections rebuild notify` does to the domains follower: empty mail_requests, rewind to
        position 0; the next catch-up applies every domains event again."""
        self.follower.rewind()
        self.wait(lambda: self.follower.position() == len(DOMAINS.log) and self._requests_done(),
                  what="the replayed requests to be handled")

    def _requests_done(self) -> bool:
        with self.follower.db.engine.connect() as conn:
            counts = self.follower.projection.counts(conn)
        return bool(counts) and set(counts) == {"done"}

    def settle(self, seconds: float = 1.0) -> None:
        """Let pushes, catch-up ticks (every 0.2 s here) and any retry run, so a duplicate would show."""
        time.sleep(seconds)


@pytest.fixture
def start(runner_factory, tmp_path):
    global DOMAINS
    DOMAINS = Domains()
    with Connection("memory://") as connection:     # the memory broker lives as long as the process
        try:
            connection.default_channel.queue_purge("follow-domains--notify")
        except Exception:   # noqa: BLE001 — not declared yet: nothing left over
            pass

    def run(catch_up_interval: float = 0.2, **settings) -> Harness:
        config = Settings(var_dir=str(tmp_path), catch_up_interval=catch_up_interval, **settings).nameko_config()
        runner = runner_factory(config, NotifyService, DomainsStandIn)
        runner.start()
        harness = Harness(config, get_container(runner, NotifyService))
        harness.wait(lambda: harness.follower.caught_up, what="the first catch-up")   # as readiness does
        return harness
    return run


def test_an_email_dcv_makes_exactly_one_outbox_mail_with_the_code(start):
    notify = start(catch_up_interval=60)       # the pull at start found nothing; the next is a minute away
    started = DOMAINS.dcv_started("email")
    DOMAINS.will_render(started["payload"]["dcv_id"], "4KQ7-ZP2M")
    notify.push(started)

    [mail] = notify.wait(notify.outbox, what="the outbox mail")
    assert mail["to"] == "admin@example.com"
    assert mail["subject"] == "Domain control validation for example.com"
    assert "4KQ7-ZP2M" in mail["text"]
    assert mail["causation_event_id"] == started["event_id"] and mail["kind"] == "dcv_email"
    notify.settle()
    assert len(notify.outbox()) == 1
    [record] = notify.messages()
    assert (record["status"], record["transport"], record["attempts"]) == ("sent", "outbox", 1)
    assert record["message_id"] == mail["message_id"]
    events = notify.notify_events()
    assert [e["event_type"] for e in events] == ["mail_queued.v1", "mail_sent.v1"]
    assert all(e["causation_id"] == started["event_id"] and e["correlation_id"] == "corr-1" for e in events)
    assert not any("4KQ7-ZP2M" in str(e) for e in events)          # the code never goes into an event


def test_the_same_event_pushed_twice_and_pulled_sends_one_mail(start):
    notify = start()
    started = DOMAINS.dcv_started("email")
    DOMAINS.will_render(started["payload"]["dcv_id"], "9XYZ-0001")
    notify.push(started)
    notify.push(started)                       # a redelivery; the catch-up timer pulls it as well
    notify.wait(notify.outbox, what="the outbox mail")
    notify.settle()
    assert len(notify.outbox()) == 1
    assert DOMAINS.dcv_mail_calls == [started["payload"]["dcv_id"]]   # rendered (and sent) once
    assert [e["event_type"] for e in notify.notify_events()] == ["mail_queued.v1", "mail_sent.v1"]


def test_replaying_the_causing_event_after_a_rebuild_sends_nothing_again(start):
    notify = start()
    started = DOMAINS.dcv_started("email")
    DOMAINS.will_render(started["payload"]["dcv_id"], "ONCE-0005")
    notify.push(started)
    notify.wait(notify.outbox, what="the outbox mail")
    notify.rebuild_read_model()                # the event is applied again and its request handled again
    notify.settle()
    assert len(notify.outbox()) == 1
    assert DOMAINS.dcv_mail_calls == [started["payload"]["dcv_id"]]
    assert [e["event_type"] for e in notify.notify_events()] == ["mail_queued.v1", "mail_sent.v1"]


def test_a_mail_that_could_not_be_composed_is_retried_and_then_sent(start, monkeypatch):
    monkeypatch.setattr(domain, "BACKOFF", (timedelta(0),) * len(domain.BACKOFF))   # retry at the next tick
    DOMAINS.crash_next = 1
    notify = start()
    started = DOMAINS.dcv_started("email")
    DOMAINS.will_render(started["payload"]["dcv_id"], "RETRY-0006")
    notify.push(started)
    [mail] = notify.wait(notify.outbox, what="the retried mail")
    assert "RETRY-0006" in mail["text"]
    [record] = notify.messages()
    assert (record["status"], record["attempts"]) == ("sent", 2)
    events = notify.notify_events()
    assert [e["event_type"] for e in events] == ["mail_failed.v1", "mail_queued.v1", "mail_sent.v1"]
    assert events[0]["payload"]["final"] is False and "render_unavailable" in events[0]["payload"]["reason"]


def test_with_an_smtp_host_the_mail_goes_to_the_smtp_server_and_not_the_outbox(start):
    with SmtpServer() as server:
        notify = start(smtp_host="127.0.0.1", smtp_port=server.port, mail_from="certplane@corp.example")
        started = DOMAINS.dcv_started("email")
        DOMAINS.will_render(started["payload"]["dcv_id"], "SMTP-0007")
        notify.push(started)
        [received] = server.wait_for(1)
        assert received["To"] == "admin@example.com" and received["From"] == "certplane@corp.example"
        assert "SMTP-0007" in received.get_content()
        notify.wait(lambda: notify.messages() and notify.messages()[0]["status"] == "sent", what="mail_sent")
        assert notify.messages()[0]["transport"] == "smtp"
        assert notify.outbox() == []
        notify.settle()
        assert len(server.messages) == 1


def test_an_event_recorded_while_notify_was_not_running_is_mailed_at_start(start):
    started = DOMAINS.dcv_started("email")     # no push: notify only finds it by pulling
    DOMAINS.will_render(started["payload"]["dcv_id"], "LATE-0002")
    notify = start()
    [mail] = notify.wait(notify.outbox, what="the outbox mail")
    assert "LATE-0002" in mail["text"]


def test_a_dcv_by_another_method_sends_nothing(start):
    notify = start()
    txt = DOMAINS.dcv_started("txt")
    DOMAINS.will_render(txt["payload"]["dcv_id"], "NOT-FOR-MAIL")
    notify.push(txt)
    email = DOMAINS.dcv_started("email")       # a later email DCV proves the txt one was processed and skipped
    DOMAINS.will_render(email["payload"]["dcv_id"], "MAIL-0003")
    notify.push(email)
    notify.wait(notify.outbox, what="the email DCV's mail")
    notify.settle()
    [mail] = notify.outbox()
    assert mail["causation_event_id"] == email["event_id"]
    assert len(notify.messages()) == 1
    assert DOMAINS.dcv_mail_calls == [email["payload"]["dcv_id"]]


def test_a_dcv_that_domains_no_longer_knows_fails_for_good_and_nothing_is_sent(start):
    notify = start()
    started = DOMAINS.dcv_started("email")     # dcv_mail will answer NotFound
    notify.push(started)
    [record] = notify.wait(notify.messages, what="the failure record")
    assert record["status"] == "failed" and record["attempts"] == 1
    assert record["to"] == "admin@example.com" and "not_found" in record["last_error"]
    notify.settle()
    [event] = notify.notify_events()
    assert event["event_type"] == "mail_failed.v1"
    assert event["payload"]["final"] is True and event["payload"]["attempt"] == 1
    assert notify.outbox() == []
    assert len(DOMAINS.dcv_mail_calls) == 1                           # final: not asked again


def test_a_dcv_whose_token_expired_before_notify_saw_it_is_not_mailed(start):
    started = DOMAINS.dcv_started("email", expires_in=timedelta(seconds=-1))
    DOMAINS.will_render(started["payload"]["dcv_id"], "STALE-0004")
    notify = start()
    [record] = notify.wait(notify.messages, what="the failure record")
    assert record["status"] == "failed" and record["last_error"].startswith("expired")
    assert notify.outbox() == [] and DOMAINS.dcv_mail_calls == []
