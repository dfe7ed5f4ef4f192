"""The REST additions the web console's screens use (issue 12), through HTTP as any client: the dashboard (its
counts follow a certificate's life, each linkable count is the X-Total-Count of the list filter it names, an RAO's
dashboard names no other organization), a request's history, and the inventory's CSV export."""
import csv
import io

import pytest

from gateway import schemas
from tests import factories

ORG = {"address1": "1 Main St", "city": "Berlin", "state": "Berlin", "country": "DE"}


@pytest.fixture(scope="module")
def world(embedded, api):
    from tests.e2e.test_ssl_lifecycle import wait_for_profiles
    a = api.create_org({"name": "Console Org A", **ORG})["organization_id"]
    b = api.create_org({"name": "Console Org B", **ORG})["organization_id"]
    for name, org in (("console-a.example.com", a), ("console-b.example.com", b)):
        created = api("POST", "/api/v1/domains", json={"name": name, "delegations": [
            {"organization_id": org, "cert_types": ["ssl"]}]})
        assert created.status_code == 201, created.text
    profile = next(p for p in wait_for_profiles(api) if p["name"] == "Private TLS Server")
    changed = api("PATCH", f"/api/v1/profiles/{profile['profile_id']}", json={"requires_approval": True})
    assert changed.status_code == 200, changed.text
    rao_record, rao = embedded.admin("console-rao", [{"role": "RAO", "cert_type": "ssl", "organization_ids": [a]}])
    return {"a": a, "b": b, "profile": profile["profile_id"], "rao": rao, "rao_id": rao_record["admin_id"]}


def request(caller, world, org, name):
    response = caller("POST", "/api/v1/ssl", json={
        "organization_id": org, "profile_id": world["profile"], "term_days": 90, "comments": "for the shop",
        "csr": factories.csr("ec-p256", cn=name, sans=(name,)).decode()})
    assert response.status_code == 201, response.text
    return response.json()


def dashboard(caller) -> dict:
    response = caller("GET", "/api/v1/dashboard")
    assert response.status_code == 200, response.text
    assert schemas.Dashboard().validate(response.json()) == {}        # the documented shape
    return response.json()


def total(caller, path, **params) -> int:
    response = caller("HEAD", path, params=params)
    assert response.status_code == 200, response.text
    return int(response.headers["X-Total-Count"])


def expiry_of(board, org) -> dict:
    return next((r for r in board["expiry"] if r["organization_id"] == org),
                {"expired": 0, "within_7": 0, "within_30": 0, "within_90": 0})


def test_the_dashboard_follows_a_certificate_from_request_to_revocation(api, world):
    before = dashboard(api)
    requested = request(world["rao"], world, world["a"], "www.console-a.example.com")
    waiting = dashboard(api)
    assert waiting["ssl_by_status"]["requested"] == before["ssl_by_status"]["requested"] + 1
    assert waiting["waiting_for_me"]["ssl_requests"]["count"] == before["waiting_for_me"]["ssl_requests"]["count"] + 1
    assert requested["ssl_id"] in waiting["waiting_for_me"]["ssl_requests"]["ids"]
    assert requested["ssl_id"] not in dashboard(world["rao"])["waiting_for_me"]["ssl_requests"]["ids"]  # own

    approved = api("POST", f"/api/v1/ssl/{requested['ssl_id']}/approve", json={"message": "checked by phone"})
    assert approved.status_code == 200, approved.text
    issued = dashboard(api)
    assert issued["ssl_by_status"]["issued"] == before["ssl_by_status"]["issued"] + 1
    assert issued["ssl_by_status"]["requested"] == before["ssl_by_status"]["requested"]
    assert expiry_of(issued, world["a"])["within_90"] == expiry_of(before, world["a"])["within_90"] + 1
    assert expiry_of(issued, world["a"])["organization_name"] == "Console Org A"

    revoked = api("POST", f"/api/v1/ssl/{requested['ssl_id']}/revoke", json={"reason": "key_compromise"})
    assert revoked.status_code == 200, revoked.text
    after = dashboard(api)
    assert after["ssl_by_status"]["revoked"] == before["ssl_by_status"]["revoked"] + 1
    assert after["ssl_by_status"]["issued"] == before["ssl_by_status"]["issued"]
    assert expiry_of(after, world["a"])["within_90"] == expiry_of(before, world["a"])["within_90"]


def test_every_count_is_the_total_of_the_list_filter_it_names(api, world):
    request(world["rao"], world, world["a"], "list.console-a.example.com")
    assert request(api, world, world["b"], "www.console-b.example.com")["status"] == "issued"   # an MRAO's: at once
    for caller in (api, world["rao"]):
        board = dashboard(caller)
        for status, count in board["ssl_by_status"].items():
            assert count == total(caller, "/api/v1/ssl", status=status), status
        for row in board["expiry"]:
            for bucket, window in board["expiry_windows"].items():
                listed = sum(total(caller, "/api/v1/ssl", organization_id=row["organization_id"], **f)
                             for f in window["filters"])
                assert listed == row[bucket], (row, bucket)
        for status, count in board["domains_by_dcv_status"].items():
            assert count == total(caller, "/api/v1/domains", dcv_status=status), status
        assert board["evidence_expiring"]["count"] == total(caller, "/api/v1/domains",
                                                            **board["evidence_expiring"]["filters"])


def test_an_rao_dashboard_names_no_other_organization(api, world):
    assert request(api, world, world["b"], "api.console-b.example.com")["status"] == "issued"   # an MRAO's: at once
    assert world["b"] in [r["organization_id"] for r in dashboard(api)["expiry"]]
    response = world["rao"]("GET", "/api/v1/dashboard")
    assert "Console Org B" not in response.text and world["b"] not in response.text
    assert {r["organization_id"] for r in response.json()["expiry"]} <= {world["a"]}
    assert response.json()["waiting_for_me"]["admins"] == {"count": 0, "ids": []}   # only an MRAO approves admins


def test_the_dashboard_needs_a_login(api):
    assert api.as_token(None)("GET", "/api/v1/dashboard").status_code == 401


def test_the_history_says_who_did_what_with_the_messages(api, world):
    requested = request(world["rao"], world, world["a"], "history.console-a.example.com")
    ssl_id = requested["ssl_id"]
    assert api("POST", f"/api/v1/ssl/{ssl_id}/approve", json={"message": "checked by phone"}).status_code == 200
    assert world["rao"]("GET", f"/api/v1/ssl/{ssl_id}/download", params={"format": "pem"}).status_code == 200
    assert api("POST", f"/api/v1/ssl/{ssl_id}/revoke", json={"reason": "superseded"}).status_code == 200
    response = world["rao"]("GET", f"/api/v1/ssl/{ssl_id}/history")
    assert response.status_code == 200, response.text
    assert schemas.SslHistory().validate(response.json()) == {}
    items = response.json()["items"]
    assert [e["event"] for e in items] == ["requested", "approved", "applied", "issued", "downloaded", "revoked"]
    assert items[0]["by"] == {"actor": world["rao_id"], "username": "console-rao"}
    assert items[0]["message"] == "for the shop"
    assert items[1]["by"]["username"] == "admin" and items[1]["message"] == "checked by phone"
    assert items[5]["message"] == "superseded"
    assert items[3]["details"]["serial"]


def test_the_history_is_as_visible_as_the_request(api, world):
    other = request(api, world, world["b"], "hidden.console-b.example.com")
    assert world["rao"]("GET", f"/api/v1/ssl/{other['ssl_id']}/history").status_code == 404
    assert api("GET", "/api/v1/ssl/00000000-0000-4000-8000-000000000000/history").status_code == 404


def test_the_export_is_the_filtered_inventory_as_csv(api, world):
    response = api("GET", "/api/v1/ssl/export", params={"organization_id": world["a"]})
    assert response.status_code == 200, response.text        # not taken for GET /api/v1/ssl/<ssl_id>
    assert response.headers["Content-Type"].startswith("text/csv")
    assert response.headers["Content-Disposition"].startswith("attachment;")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == total(api, "/api/v1/ssl", organization_id=world["a"]) > 0
    assert list(rows[0]) == ["ssl_id", "status", "common_name", "sans", "organization", "department", "profile",
                             "trust_class", "serial", "not_before", "not_after", "requested_by"]
    assert {r["organization"] for r in rows} == {"Console Org A"}
    assert {r["profile"] for r in rows} == {"Private TLS Server"}
    assert "console-rao" in {r["requested_by"] for r in rows}
    revoked = list(csv.DictReader(io.StringIO(api("GET", "/api/v1/ssl/export", params={
        "organization_id": world["a"], "status": "revoked"}).text)))
    assert len(revoked) == total(api, "/api/v1/ssl", organization_id=world["a"], status="revoked")
    assert all(r["status"] == "revoked" and r["serial"] for r in revoked)


def test_an_rao_exports_only_its_scope(api, world):
    rows = list(csv.DictReader(io.StringIO(world["rao"]("GET", "/api/v1/ssl/export").text)))
    assert rows and {r["organization"] for r in rows} == {"Console Org A"}


@pytest.mark.parametrize("path, params, field", [
    ("/api/v1/ssl/export", {"status": "lost"}, "status"),
    ("/api/v1/ssl/export", {"position": "0"}, "position"),           # no paging: the whole filtered result
    ("/api/v1/ssl/export", {"expires_before": "tomorrow"}, "expires_before"),
    ("/api/v1/domains", {"dcv_expires_before": "2026-01-01"}, "dcv_expires_before"),   # no offset: ambiguous
])
def test_bad_filters_are_refused_with_the_reason(api, path, params, field):
    response = api("GET", path, params=params)
    assert response.status_code == 400, response.text
    assert field in response.json()["error"]["details"]
