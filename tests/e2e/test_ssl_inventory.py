"""The SSL inventory as the console lists it: GET /api/v1/ssl sorted by each `sort` value (stable, ssl_id breaking
ties), the text search finding a certificate by its serial as openssl and browsers print it, expiry filters, and
a sort it does not know refused with the values it does."""
import pytest

from tests import factories
from tests.e2e.conftest import Embedded
from tests.e2e.test_ssl_lifecycle import ORG, wait_for_profiles

SORTS = ("created_at", "not_after", "common_name", "status", "serial")


@pytest.fixture(scope="module")
def cp(tmp_path_factory):
    server = Embedded(tmp_path_factory.mktemp("var"), tmp_path_factory.mktemp("logs"),
                      # CRL and OCSP URLs in certificates must name a public DNS name (pkilint refuses 127.0.0.1)
                      CERTPLANE_PUBLIC_BASE_URL="http://pki.certplane-e2e.example.com").start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def inventory(cp):
    """Four certificates issued by the MRAO under the default private TLS profile (no approval needed), in this
    order, with these terms; the third one revoked."""
    api = cp.api
    org = api.create_org({"name": "Inventory Org", **ORG})["organization_id"]
    created = api("POST", "/api/v1/domains", json={"name": "inventory.example.com", "delegations": [
        {"organization_id": org, "cert_types": ["ssl"]}]})
    assert created.status_code == 201, created.text
    profile = next(p for p in wait_for_profiles(api) if p["name"] == "Private TLS Server")
    issued = []
    for label, term in (("mango", 200), ("apple", 90), ("zebra", 365), ("kiwi", 398)):
        name = f"{label}.inventory.example.com"
        response = api("POST", "/api/v1/ssl", json={
            "organization_id": org, "profile_id": profile["profile_id"], "term_days": term,
            "csr": factories.csr("ec-p256", cn=name, sans=(name,)).decode()})
        assert response.status_code == 201 and response.json()["status"] == "issued", response.text
        issued.append(response.json())
    revoked = api("POST", f"/api/v1/ssl/{issued[2]['ssl_id']}/revoke", json={"reason": "superseded"})
    assert revoked.status_code == 200, revoked.text
    return {"org": org, "items": [api("GET", f"/api/v1/ssl/{i['ssl_id']}").json() for i in issued]}


def listed(api, **params) -> list[dict]:
    response = api("GET", "/api/v1/ssl", params={"size": 200, **params})
    assert response.status_code == 200, response.text
    return response.json()["items"]


def ids(items) -> list[str]:
    return [i["ssl_id"] for i in items]


def test_default_order_is_newest_first(cp, inventory):
    mine = {i["ssl_id"] for i in inventory["items"]}
    assert [i for i in ids(listed(cp.api)) if i in mine] == ids(reversed(inventory["items"]))
    assert ids(listed(cp.api, sort="created_at")) == ids(inventory["items"])


@pytest.mark.parametrize("field", SORTS)
def test_each_sort_orders_by_its_field_then_ssl_id_both_ways(cp, inventory, field):
    items = inventory["items"]
    key = (lambda i: (i[field], i["ssl_id"]))
    up = listed(cp.api, sort=field, organization_id=inventory["org"])
    down = listed(cp.api, sort=f"-{field}", organization_id=inventory["org"])
    assert ids(up) == ids(sorted(items, key=key))
    assert ids(down) == ids(sorted(items, key=key, reverse=True))


def test_sort_by_common_name_and_status_say_what_an_administrator_sees(cp, inventory):
    by_name = listed(cp.api, sort="common_name", organization_id=inventory["org"])
    assert [i["common_name"].split(".")[0] for i in by_name] == ["apple", "kiwi", "mango", "zebra"]
    by_status = listed(cp.api, sort="-status", organization_id=inventory["org"])
    assert by_status[0]["common_name"].startswith("zebra") and by_status[0]["status"] == "revoked"


def test_pages_of_a_sort_follow_each_other_without_overlap(cp, inventory):
    whole = ids(listed(cp.api, sort="not_after", organization_id=inventory["org"]))
    pages = [ids(listed(cp.api, sort="not_after", organization_id=inventory["org"], position=n, size=1))
             for n in range(len(whole))]
    assert [p[0] for p in pages] == whole


def test_text_search_finds_a_serial_written_with_colons_in_any_case(cp, inventory):
    target = inventory["items"][1]
    serial = target["serial"]
    hex_bytes = serial.rjust(len(serial) + len(serial) % 2, "0")
    printed = ":".join(hex_bytes[i:i + 2] for i in range(0, len(hex_bytes), 2)).upper()   # as openssl prints it
    for q in (printed, printed[6:24], printed[6:24].lower(), serial[4:16].upper()):
        assert ids(listed(cp.api, q=q)) == [target["ssl_id"]], q
    assert ids(listed(cp.api, q="apple.inventory")) == [target["ssl_id"]]       # names still match
    assert listed(cp.api, q="ff:ff:ff:ff:ff:ff:ff:ff:ff:ff") == []


def test_expiry_filters_compare_times_whatever_their_offset(cp, inventory):
    apple, kiwi = inventory["items"][1], inventory["items"][3]
    before = listed(cp.api, organization_id=inventory["org"], expires_before=apple["not_after"].replace(
        "+00:00", "+01:00"))                      # an hour before apple's notAfter: nothing of ours expires earlier
    assert before == []
    after = listed(cp.api, organization_id=inventory["org"], expires_after=kiwi["not_after"].replace(
        "+00:00", "-01:00"), sort="not_after")    # an hour after kiwi's notAfter
    assert after == []
    assert ids(listed(cp.api, organization_id=inventory["org"], expires_after=apple["not_after"],
                      expires_before=kiwi["not_after"], sort="not_after")) == \
        ids([inventory["items"][0], inventory["items"][2]])


def test_an_unknown_sort_is_refused_with_the_values_it_could_be(cp, inventory):
    response = cp.api("GET", "/api/v1/ssl", params={"sort": "-organization"})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    reason = " ".join(error["details"]["sort"])
    for value in ("created_at", "-created_at", "not_after", "-not_after", "common_name", "status", "serial"):
        assert value in reason
    assert "-organization" not in reason


def test_the_openapi_document_lists_the_sort_values(cp):
    response = cp.api("GET", "/api/v1/openapi.json")
    assert response.status_code == 200, response.text[:500]
    document = response.json()
    parameters = document["paths"]["/api/v1/ssl"]["get"]["parameters"]
    sort = next(p for p in parameters if p["name"] == "sort")
    assert "-created_at" in sort["schema"]["enum"] and "serial" in sort["schema"]["enum"]
