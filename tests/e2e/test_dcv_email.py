"""Email DCV end to end, as a new user does it: start it through the API, read the mail (from the outbox when no
SMTP server is configured, or from a real SMTP server the test runs), open the link and enter the code."""
import re
import socket
import time

import pytest
import requests

from tests.dns_server import DnsServer
from tests.e2e.conftest import Embedded
from tests.smtp_server import SmtpServer

ORG = {"address1": "1 Main St", "city": "Berlin", "state": "Berlin", "country": "DE"}


def read_mail(text: str) -> tuple[str, str]:
    link = re.search(r"(http://\S+/dcv/[0-9a-f-]{36})", text).group(1)
    code = re.search(r"Code: (\S+)", text).group(1)
    return link, code


def new_domain(api, name: str) -> dict:
    org = api.create_org({"name": f"Mail Org {name}", **ORG})
    response = api("POST", "/api/v1/domains", json={"name": name, "delegations": [
        {"organization_id": org["organization_id"], "cert_types": ["ssl"]}]})
    assert response.status_code == 201, response.text
    return response.json()


def start_email(api, found: dict, mailbox: str) -> dict:
    response = api("POST", f"/api/v1/domains/{found['domain_id']}/dcv",
                   json={"method": "email", "email_address": f"{mailbox}@{found['name']}"})
    assert response.status_code == 201, response.text
    dcv = response.json()["dcv"]
    assert dcv["status"] == "submitted" and dcv["expected_value"] is None     # the code is only in the mail
    return dcv


@pytest.fixture(scope="module")
def dns():
    server = DnsServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def with_outbox(tmp_path_factory, dns):
    server = Embedded(tmp_path_factory.mktemp("var"), tmp_path_factory.mktemp("logs"),
                      CERTPLANE_DNS_RESOLVER=dns.address, CERTPLANE_CAA_IDENTITIES="certplane.test").start()
    yield server
    server.stop()


def outbox_mail_to(api, address: str, timeout: float = 20.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        items = api("GET", "/api/v1/outbox", params={"size": 200}).json()["items"]
        found = [m for m in items if m["to"] == address]
        if found:
            return found[0]
        time.sleep(0.1)
    raise AssertionError(f"no mail to {address} in the outbox within {timeout}s")


def test_a_new_user_completes_email_dcv_from_the_outbox(with_outbox):
    api = with_outbox.api
    found = new_domain(api, "outbox-mail.example")
    dcv = start_email(api, found, "hostmaster")
    mail = outbox_mail_to(api, "hostmaster@outbox-mail.example")
    assert "outbox-mail.example" in mail["subject"]
    link, code = read_mail(mail["text"])
    assert link == f"{api.base_url}/dcv/{dcv['dcv_id']}"
    page = requests.get(link, timeout=30)
    assert page.status_code == 200 and "<form" in page.text
    wrong = requests.post(link, json={"code": "not-the-code"}, timeout=30)
    assert wrong.status_code == 400 and wrong.json()["error"]["code"] == "dcv_code_wrong"
    assert api("GET", f"/api/v1/domains/{found['domain_id']}").json()["dcv"]["status"] == "submitted"
    done = requests.post(link, data={"code": code}, timeout=30)                 # the HTML form, no login
    assert done.status_code == 200 and "confirmed" in done.text
    after = api("GET", f"/api/v1/domains/{found['domain_id']}").json()["dcv"]
    assert after["status"] == "validated" and after["method"] == "email"
    again = requests.post(link, json={"code": code}, timeout=30)
    assert again.status_code == 409 and again.json()["error"]["code"] == "dcv_token_used"


def test_the_outbox_is_for_mraos_only(with_outbox):
    org = with_outbox.api.create_org({"name": "Outbox Readers", **ORG})
    _record, rao = with_outbox.admin("outbox-rao", [{"role": "RAO", "cert_type": "ssl",
                                                     "organization_ids": [org["organization_id"]]}])
    refused = rao("GET", "/api/v1/outbox")
    assert refused.status_code == 403 and "MRAO" in refused.json()["error"]["message"]


def test_an_email_dcv_mail_is_sent_once_even_when_started_twice(with_outbox):
    """A second start replaces the first attempt: two mails, one per attempt, and only the latest code works."""
    api = with_outbox.api
    found = new_domain(api, "twice.example")
    first = start_email(api, found, "admin")
    first_mail = outbox_mail_to(api, "admin@twice.example")
    second = start_email(api, found, "postmaster")
    second_mail = outbox_mail_to(api, "postmaster@twice.example")
    assert first["dcv_id"] != second["dcv_id"]
    items = api("GET", "/api/v1/outbox", params={"size": 200}).json()["items"]
    assert len([m for m in items if m["to"].endswith("@twice.example")]) == 2
    old_link, old_code = read_mail(first_mail["text"])
    stale = requests.post(old_link, json={"code": old_code}, timeout=30)
    assert stale.status_code == 409 and stale.json()["error"]["code"] == "dcv_not_started"
    link, code = read_mail(second_mail["text"])
    assert requests.post(link, json={"code": code}, timeout=30).json()["validated"] is True


def test_email_dcv_over_a_real_smtp_server(tmp_path_factory, dns):
    with SmtpServer() as smtp:
        server = Embedded(tmp_path_factory.mktemp("var"), tmp_path_factory.mktemp("logs"),
                          CERTPLANE_DNS_RESOLVER=dns.address, CERTPLANE_CAA_IDENTITIES="certplane.test",
                          CERTPLANE_SMTP_HOST="127.0.0.1", CERTPLANE_SMTP_PORT=str(smtp.port),
                          CERTPLANE_MAIL_FROM="dcv@certplane.test").start()
        try:
            api = server.api
            found = new_domain(api, "smtp-mail.example")
            start_email(api, found, "webmaster")
            [mail] = smtp.wait_for(1, timeout=20)
            assert mail["To"] == "webmaster@smtp-mail.example" and mail["From"] == "dcv@certplane.test"
            link, code = read_mail(mail.get_content())
            assert api("GET", "/api/v1/outbox").json()["items"] == []            # sent, not kept
            answer = requests.post(link, json={"code": code}, timeout=30)
            assert answer.status_code == 200 and answer.json()["validated"], answer.text
            time.sleep(1)
            assert len(smtp.messages) == 1                                      # no second mail on catch-up
        finally:
            server.stop()


def domains_events(server) -> int:
    import sqlite3
    with sqlite3.connect(f"file:{server.var_dir / 'domains.sqlite3'}?mode=ro", uri=True, timeout=10) as conn:
        return conn.execute("SELECT count(*) FROM events").fetchone()[0]


def test_with_the_dns_server_down_entering_the_code_says_which_lookup_failed_where(tmp_path_factory):
    """The CAA lookup the code triggers goes to a DNS server that never answers (a bound UDP socket nobody reads).
    The answer is a 422 naming the lookup and the server — not the gateway's 503 "a service did not answer in
    time", which is what arrives when the lookups outlast the RPC timeout — and nothing is recorded."""
    dead = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    dead.bind(("127.0.0.1", 0))
    dead_address = f"127.0.0.1:{dead.getsockname()[1]}"
    server = Embedded(tmp_path_factory.mktemp("var"), tmp_path_factory.mktemp("logs"),
                      CERTPLANE_DNS_RESOLVER=dead_address, CERTPLANE_RPC_TIMEOUT="4",
                      CERTPLANE_CAA_IDENTITIES="certplane.test").start()
    try:
        api = server.api
        found = new_domain(api, "dead-dns.example")
        dcv = start_email(api, found, "admin")
        link, code = read_mail(outbox_mail_to(api, "admin@dead-dns.example")["text"])
        before = domains_events(server)
        for refused in (requests.post(link, json={"code": code}, timeout=30),
                        api("POST", f"/api/v1/domains/{found['domain_id']}/dcv/submit", json={"code": code})):
            assert refused.status_code == 422, refused.text
            error = refused.json()["error"]
            assert error["code"] == "caa_lookup_failed"
            assert error["message"].startswith(f"CAA lookup for dead-dns.example failed at the DNS server "
                                               f"{dead_address}: no answer")
            assert error["details"]["server"] == dead_address and error["details"]["timed_out"] is True
        assert domains_events(server) == before
        after = api("GET", f"/api/v1/domains/{found['domain_id']}").json()["dcv"]
        assert (after["dcv_id"], after["status"], after["last_failure"], after["validated_at"]) == \
            (dcv["dcv_id"], "submitted", None, None)
    finally:
        server.stop()
        dead.close()
