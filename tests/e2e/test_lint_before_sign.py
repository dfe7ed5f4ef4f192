"""Lint before sign, through a real issuance (DESIGN §6): with CERTPLANE_PUBLIC_BASE_URL left at its default
(http://127.0.0.1:<port>), a public TLS certificate's CRL and OCSP links name an internal address, pkilint's CA/B
Forum serverauth lint reports ERRORs, and the CA refuses with 422 `lint_failed` — before a serial is recorded or a
signature made. A request that waits for approval is linted when it is made and refused at once (nothing recorded);
one that is applied at once (or approved later) is recorded first, and the CA's refusal ends it as `failed` with the
findings (the issuance pipeline, DESIGN §3.6). (Private profiles, linted against RFC 5280, accept such links:
tests/e2e/test_private_pki.py.)"""
import sqlite3

import pytest

from tests import factories
from tests.dns_server import DnsServer
from tests.e2e.conftest import Embedded, validate_by_email
from tests.e2e.test_ssl_lifecycle import ORG, wait_for_profiles

DOMAIN = "lint-e2e.example.com"
PUBLIC_URL = "http://pki.certplane-e2e.example.com"


def events(cp: Embedded, service: str, event_type_like: str = "%") -> list[tuple[str, str]]:
    """(stream_id, event_type) of a service's recorded events, from its SQLite event store under var/."""
    with sqlite3.connect(f"file:{cp.var_dir / f'{service}.sqlite3'}?mode=ro", uri=True, timeout=10) as conn:
        return conn.execute("SELECT stream_id, event_type FROM events WHERE event_type LIKE ? ORDER BY position",
                            (event_type_like,)).fetchall()


def ca_certificate_rows(cp: Embedded) -> int:
    with sqlite3.connect(f"file:{cp.var_dir / 'ca.sqlite3'}?mode=ro", uri=True, timeout=10) as conn:
        # leaf certificates only: the CA certificates are rows too (the root answers OCSP for them)
        return conn.execute("SELECT count(*) FROM certificates WHERE request_id NOT LIKE 'ca:%'").fetchone()[0]


def make_world(cp: Embedded) -> dict:
    """An organization with DOMAIN delegated for ssl and validated by email, the default Public TLS profile (needs
    approval), an MRAO-made public TLS profile without approval, an RAO (ssl) and an RAO holding "SSL auto
    approve"."""
    api = cp.api
    org_id = api.create_org({"name": "Lint Org", **ORG})["organization_id"]
    created = api("POST", "/api/v1/domains", json={"name": DOMAIN, "delegations": [
        {"organization_id": org_id, "cert_types": ["ssl"]}]})
    assert created.status_code == 201, created.text
    validate_by_email(api, created.json())
    tls = next(p for p in wait_for_profiles(api) if p["name"] == "Public TLS")
    assert tls["requires_approval"] is True and tls["trust_class"] == "public"
    fields = {k: v for k, v in tls.items() if k not in ("profile_id", "created_at", "updated_at")}
    made = api("POST", "/api/v1/profiles", json={**fields, "name": "TLS without approval", "requires_approval": False})
    assert made.status_code == 201, made.text
    role = [{"role": "RAO", "cert_type": "ssl", "organization_ids": [org_id]}]
    return {"org": org_id, "tls": tls, "no_approval": made.json(), "rao": cp.admin("lint-rao", role)[1],
            "auto": cp.admin("lint-auto", role, ["ssl_auto_approve"])[1]}


def ssl_request(api, world, profile: dict, name: str):
    return api("POST", "/api/v1/ssl", json={"organization_id": world["org"], "profile_id": profile["profile_id"],
                                            "term_days": 90, "csr": factories.csr(cn=name, sans=(name,)).decode()})


def assert_lint_failed(answer) -> dict:
    """422 lint_failed, with ERROR findings on the AIA (OCSP, caIssuers) and CRL distribution point URLs, and the
    hint that names the setting to fix."""
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["code"] == "lint_failed"
    assert "nothing was signed" in error["message"] and "CERTPLANE_PUBLIC_BASE_URL" in error["message"]
    findings = error["details"]["findings"]
    assert findings and {f["severity"] for f in findings} == {"ERROR"}
    paths = " ".join(f["path"] for f in findings)
    assert "authorityInfoAccess" in paths and "cRLDistributionPoints" in paths
    assert {f["code"] for f in findings} == {"cabf.internal_domain_name"}
    assert all("127.0.0.1" in f["message"] for f in findings)
    return error


@pytest.fixture(scope="module")
def dns():
    server = DnsServer().start()          # answers CAA (no records: any CA may issue) for the email DCV
    yield server
    server.stop()


def with_dns(dns) -> dict:
    return {"CERTPLANE_DNS_RESOLVER": dns.address, "CERTPLANE_CAA_IDENTITIES": "certplane.test"}


@pytest.fixture(scope="module")
def loopback(tmp_path_factory, dns):
    """Certplane as `make run` starts it without CERTPLANE_PUBLIC_BASE_URL: links on http://127.0.0.1:<port>."""
    server = Embedded(tmp_path_factory.mktemp("var"), tmp_path_factory.mktemp("logs"), **with_dns(dns)).start()
    assert "CERTPLANE_PUBLIC_BASE_URL" not in server.process.env
    yield server
    server.stop()


@pytest.fixture(scope="module")
def loopback_world(loopback):
    return make_world(loopback)


@pytest.mark.parametrize("who, profile", [("auto", "tls"), ("rao", "no_approval")])
def test_an_auto_approved_request_refused_by_the_lint_ends_failed_with_the_findings(loopback, loopback_world, who,
                                                                                     profile):
    """422 with the CA's findings, and the request is in the inventory as failed (it was recorded before the CA
    judged it): no serial drawn, no certificate_signing, one certificate_refused."""
    cp, world = loopback, loopback_world
    answer = ssl_request(world[who], world, world[profile], f"auto-{who}.{DOMAIN}")
    error = assert_lint_failed(answer)
    ssl_id = error["details"]["ssl_id"]
    assert answer.headers["Location"] == f"/api/v1/ssl/{ssl_id}" and error["details"]["status"] == "failed"
    seen = world[who]("GET", f"/api/v1/ssl/{ssl_id}").json()
    assert seen["status"] == "failed" and seen["serial"] is None and seen["last_error"] == error["message"]
    assert seen["last_findings"] == error["details"]["findings"] and seen["last_error_code"] == "lint_failed"
    assert ca_certificate_rows(cp) == 0                                   # no serial consumed
    assert [e for _s, e in events(cp, "ca", "certificate_%")].count("certificate_signing.v1") == 0
    assert ("application-" + _applied_id(cp, ssl_id), "certificate_refused.v1") in events(cp, "ca", "certificate_%")
    assert [e for s_, e in events(cp, "enrollment", "ssl_%") if s_ == f"ssl-{ssl_id}"] == [
        "ssl_requested.v1", "ssl_approved.v1", "ssl_applied.v1", "ssl_issuance_failed.v1"]
    listed = cp.api("GET", "/api/v1/ssl", params={"status": "failed"}).json()
    assert ssl_id in {item["ssl_id"] for item in listed["items"]}


def _applied_id(cp: Embedded, ssl_id: str) -> str:
    with sqlite3.connect(f"file:{cp.var_dir / 'enrollment.sqlite3'}?mode=ro", uri=True, timeout=10) as conn:
        return conn.execute("SELECT event_id FROM events WHERE stream_id = ? AND event_type = 'ssl_applied.v1'",
                            (f"ssl-{ssl_id}",)).fetchone()[0]


def test_a_request_needing_approval_is_linted_when_made_and_refused_at_once(loopback, loopback_world):
    cp, world = loopback, loopback_world
    before = events(cp, "enrollment", "ssl_%")
    total = cp.api("GET", "/api/v1/ssl").json()["total"]
    error = assert_lint_failed(ssl_request(world["rao"], world, world["tls"], f"needs-approval.{DOMAIN}"))
    assert "ssl_id" not in error["details"]                                # nothing was recorded to name
    assert events(cp, "enrollment", "ssl_%") == before and ca_certificate_rows(cp) == 0
    assert cp.api("GET", "/api/v1/ssl").json()["total"] == total


def test_an_approval_refused_by_the_lint_leaves_the_request_failed_to_retry_or_decline(tmp_path, dns):
    """The base URL was public when the request was made (its lint passed) and is internal when it is approved
    (an operator changed the setting and restarted). The approver gets the findings; once the setting is fixed,
    approving again issues. A request nobody wants to retry can be declined."""
    cp = Embedded(tmp_path / "var", tmp_path, CERTPLANE_PUBLIC_BASE_URL=PUBLIC_URL, **with_dns(dns)).start()
    try:
        world = make_world(cp)
        requested = ssl_request(world["rao"], world, world["tls"], f"later.{DOMAIN}")
        assert requested.status_code == 201 and requested.json()["status"] == "requested", requested.text
        path = f"/api/v1/ssl/{requested.json()['ssl_id']}"
        other = ssl_request(world["rao"], world, world["tls"], f"other.{DOMAIN}")
        other_path = f"/api/v1/ssl/{other.json()['ssl_id']}"
        cp.stop()
        del cp.process.env["CERTPLANE_PUBLIC_BASE_URL"]
        cp.start()

        error = assert_lint_failed(cp.api("POST", path + "/approve", json={"message": "fine by me"}))
        seen = world["rao"]("GET", path).json()
        assert seen["status"] == "failed" and seen["serial"] is None
        assert seen["approved_by"] == cp.api("GET", "/api/v1/auth/me").json()["admin_id"]
        assert seen["last_error"] == error["message"]
        assert ca_certificate_rows(cp) == 0
        assert [e for _s, e in events(cp, "ca", "certificate_%")] == ["certificate_refused.v1"]
        assert [e for _s, e in events(cp, "enrollment", "ssl_%") if _s == f"ssl-{seen['ssl_id']}"] == [
            "ssl_requested.v1", "ssl_approved.v1", "ssl_applied.v1", "ssl_issuance_failed.v1"]
        assert world["rao"]("POST", path + "/renew").status_code == 409        # no certificate to renew yet

        assert_lint_failed(cp.api("POST", other_path + "/approve"))
        declined = cp.api("POST", other_path + "/decline", json={"reason": "cannot be issued"})
        assert declined.status_code == 200 and declined.json()["status"] == "declined", declined.text
        assert cp.api("POST", other_path + "/approve").json()["error"]["code"] == "ssl_declined"

        cp.stop()
        cp.process.env["CERTPLANE_PUBLIC_BASE_URL"] = PUBLIC_URL          # the operator fixes the setting
        cp.start()
        retried = cp.api("POST", path + "/approve", json={"message": "setting fixed"})
        assert retried.status_code == 200 and retried.json()["status"] == "issued", retried.text
        assert retried.json()["last_error"] is None and retried.json()["serial"]
        assert ca_certificate_rows(cp) == 1
        again = cp.api("POST", path + "/approve")
        assert again.status_code == 409 and again.json()["error"]["code"] == "ssl_issued"
    finally:
        cp.stop()
