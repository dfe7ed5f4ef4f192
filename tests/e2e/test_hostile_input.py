"""Hostile requests (issue 11), sent as an attacker on the network would, to one embedded Certplane: each gets its
4xx in the single error format, and nothing changes — the lists' X-Total-Count and every service's event store
head are the same before and after. (Slow clients and chunked framing: the listener's own tests.)"""
import json
import sqlite3
import uuid

import pytest
import requests

from tests.e2e.conftest import Embedded
from tests.e2e.test_ssl_lifecycle import ORG, wait_for_profiles

MAX_BODY = 1024 * 1024                  # the default CERTPLANE_MAX_BODY_BYTES, so a 100k-element array fits
DCV_BODY_LIMIT = 4096                   # the public DCV form's own limit (gateway/api_domains.py)
EVENT_STORES = ("orgs", "identity", "domains", "enrollment", "ca", "notify")
COUNTED = ("/api/v1/organizations", "/api/v1/domains", "/api/v1/networks", "/api/v1/persons", "/api/v1/admins",
           "/api/v1/ssl", "/api/v1/outbox")
OVERFLOWING = ["position=9223372036854775808", "position=2147483648", "position=-1", "position=" + "9" * 5000,
               "size=9223372036854775808", "size=-1", "size=0", "size=201"]


@pytest.fixture(scope="module")
def cp(tmp_path_factory):
    server = Embedded(tmp_path_factory.mktemp("var"), tmp_path_factory.mktemp("logs"),
                      CERTPLANE_MAX_BODY_BYTES=str(MAX_BODY)).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def world(cp) -> dict:
    wait_for_profiles(cp.api)           # the default profiles are events too: let them land before counting
    org = cp.api.create_org({"name": "Hostile Org", **ORG})
    me = cp.api("GET", "/api/v1/auth/me").json()
    return {"organization_id": org["organization_id"], "admin_id": me["admin_id"]}


def snapshot(cp: Embedded) -> dict:
    """What a change would move: each list's count and each event store's last position."""
    counts = {path: cp.api("HEAD", path).headers["X-Total-Count"] for path in COUNTED}
    heads = {}
    for service in EVENT_STORES:
        with sqlite3.connect(f"file:{cp.var_dir / f'{service}.sqlite3'}?mode=ro", uri=True, timeout=10) as conn:
            heads[service] = conn.execute("SELECT coalesce(max(position), 0) FROM events").fetchone()[0]
    return {"counts": counts, "heads": heads}


@pytest.fixture
def unchanged(cp, world):
    before = snapshot(cp)
    yield
    assert snapshot(cp) == before


def error_of(response: requests.Response, status: int, code: str) -> dict:
    """The error of a refused request, checked to be in the single error format."""
    assert response.status_code == status, response.text[:500]
    assert response.headers["Content-Type"] == "application/json"
    error = response.json()["error"]
    assert set(error) == {"code", "message", "details", "correlation_id"} and error["message"]
    assert error["correlation_id"] and response.headers["X-Correlation-Id"] == error["correlation_id"]
    assert error["code"] == code, error
    return error


def post_raw(api, path: str, body: bytes, content_type: str = "application/json", method: str = "POST"):
    return api(method, path, data=body, headers={"Content-Type": content_type})


def list_paths(world) -> list[str]:
    return [*COUNTED, f"/api/v1/organizations/{world['organization_id']}/departments"]


def json_routes(cp, world) -> list[tuple[str, str]]:
    """(method, path) of every route the OpenAPI document says takes a JSON body, ids filled in: the caller's own
    organization and admin where the route looks the object up before it reads the body, random ones elsewhere."""
    spec = cp.api("GET", "/api/v1/openapi.json").json()
    known = {"organization_id": world["organization_id"], "admin_id": world["admin_id"]}
    routes = []
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if "application/json" not in operation.get("requestBody", {}).get("content", {}):
                continue
            for parameter in [p for p in operation.get("parameters", []) if p["in"] == "path"] or []:
                offered = parameter.get("schema", {}).get("enum")         # e.g. {resource}: client|cscert|device
                path = path.replace("{%s}" % parameter["name"], offered[0] if offered else
                                    known.get(parameter["name"], str(uuid.uuid4())))
            while "{" in path:              # a path parameter the operation did not list
                name = path[path.index("{") + 1:path.index("}")]
                path = path.replace("{%s}" % name, known.get(name, str(uuid.uuid4())))
            routes.append((method.upper(), path))
    assert len(routes) > 30 and ("POST", "/api/v1/auth/login") in routes
    return routes


# ---- integers the store cannot hold ----------------------------------------------------------------------------
@pytest.mark.parametrize("query", OVERFLOWING)
def test_positions_and_sizes_out_of_range_are_400_naming_the_field_on_every_list(cp, world, unchanged, query):
    field = query.split("=")[0]
    for path in list_paths(world):
        error = error_of(cp.api("GET", f"{path}?{query}"), 400, "invalid_request")
        assert list(error["details"]) == [field], (path, error)
        head = cp.api("HEAD", f"{path}?{query}")
        assert head.status_code == 400 and head.content == b"", (path, head.status_code)


def test_the_largest_position_is_an_empty_page_and_documented(cp, world):
    spec = cp.api("GET", "/api/v1/openapi.json").json()
    parameters = {p["name"]: p["schema"] for p in spec["paths"]["/api/v1/organizations"]["get"]["parameters"]}
    assert parameters["position"]["maximum"] == 2**31 - 1 and parameters["size"]["maximum"] == 200
    for path in list_paths(world):
        answer = cp.api("GET", f"{path}?position=2147483647&size=200")
        assert answer.status_code == 200 and answer.json()["items"] == [], path
        assert cp.api("HEAD", f"{path}?position=2147483647").status_code == 200, path


def test_a_query_parameter_sent_twice_is_duplicate_key(cp, world, unchanged):
    for path in list_paths(world):
        error = error_of(cp.api("GET", f"{path}?size=5&size=200"), 400, "duplicate_key")
        assert error["details"] == {"size": ["sent more than once"]}
        assert cp.api("HEAD", f"{path}?position=1&position=2").status_code == 400


def test_huge_and_non_json_numbers_in_a_body_are_400(cp, world, unchanged):
    ssl = {"organization_id": world["organization_id"], "profile_id": str(uuid.uuid4()), "csr": "x"}
    for term_days in ("1e999", "-1e999", str(2**63), str(-2**63 - 1), "99.5e300"):
        error = error_of(post_raw(cp.api, "/api/v1/ssl", json.dumps(ssl)[:-1].encode()
                                  + f', "term_days": {term_days}}}'.encode()), 400, "invalid_request")
        assert "term_days" in error["details"], term_days
    for constant in ("NaN", "Infinity", "-Infinity"):
        error_of(post_raw(cp.api, "/api/v1/ssl", json.dumps(ssl)[:-1].encode() + f', "term_days": {constant}}}'
                          .encode()), 400, "malformed_json")
    profile = {"name": "Huge", "terms": [2**64], "max_sans": 10**30}
    error = error_of(post_raw(cp.api, "/api/v1/profiles", json.dumps(profile).encode()), 400, "invalid_request")
    assert {"terms", "max_sans"} <= set(error["details"])


# ---- nesting ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("depth", [1_000, 100_000])
def test_deep_json_is_json_too_deep_on_every_json_route(cp, world, unchanged, depth):
    body = ('{"name": ' + "[" * depth + "]" * depth + "}").encode()
    for method, path in json_routes(cp, world):
        answer = post_raw(cp.api, path, body, method=method)
        if path.startswith("/dcv/") and len(body) > DCV_BODY_LIMIT:
            error_of(answer, 413, "request_entity_too_large")
            continue
        error = error_of(answer, 400, "json_too_deep")
        assert error["details"] == {"body": ["nested deeper than 64"]}, (method, path)


def test_deep_json_on_login_without_credentials_is_json_too_deep(cp, world, unchanged):
    anonymous = cp.api.as_token(None)
    for body in ('{"username": ' + "[" * 100_000 + "}", '{"username": ' + "{\"a\": " * 1_000 + "1" + "}" * 1001):
        error_of(post_raw(anonymous, "/api/v1/auth/login", body.encode()), 400, "json_too_deep")
    dcv = f"/dcv/{uuid.uuid4()}"        # the other public JSON route
    error_of(post_raw(anonymous, dcv, b'{"code": ' + b"[" * 2000 + b"}"), 400, "json_too_deep")


# ---- duplicate keys --------------------------------------------------------------------------------------------
def test_a_duplicate_key_at_the_top_level_is_refused(cp, world, unchanged):
    body = '{"name": "First Org", "name": "Second Org", "address1": "1 Main St", "city": "Berlin", ' \
           '"state": "Berlin", "country": "DE"}'
    error = error_of(post_raw(cp.api, "/api/v1/organizations", body.encode()), 400, "duplicate_key")
    assert '"name"' in error["message"] and error["details"] == {"body": ['key "name" sent more than once']}
    anonymous = cp.api.as_token(None)    # before any credential is looked at
    login = '{"username": "admin", "password": "wrong", "password": "%s"}' % cp.admin_password
    error_of(post_raw(anonymous, "/api/v1/auth/login", login.encode()), 400, "duplicate_key")


def test_a_duplicate_key_in_a_nested_object_is_refused(cp, world, unchanged):
    org = world["organization_id"]
    body = ('{"name": "dup.hostile.example.com", "delegations": [{"organization_id": "%s", "cert_types": ["ssl"], '
            '"organization_id": "%s"}]}' % (org, uuid.uuid4()))
    error = error_of(post_raw(cp.api, "/api/v1/domains", body.encode()), 400, "duplicate_key")
    assert error["details"] == {"body": ['key "organization_id" sent more than once']}


def test_a_form_field_that_takes_one_value_sent_twice_is_refused(cp, world, unchanged):
    form = {"organization_id": world["organization_id"], "profile_id": str(uuid.uuid4()), "term_days": ["90", "365"]}
    answer = cp.api("POST", "/api/v1/ssl", data=form, files={"csr": ("r.pem", b"-----BEGIN CERTIFICATE REQUEST")})
    assert error_of(answer, 400, "duplicate_key")["details"] == {"term_days": ["sent more than once"]}
    public = cp.api.as_token(None)("POST", f"/dcv/{uuid.uuid4()}", data={"code": ["a", "b"]})
    assert error_of(public, 400, "duplicate_key")["details"] == {"code": ["sent more than once"]}


# ---- what held, and must keep holding --------------------------------------------------------------------------
def test_a_body_over_the_limit_is_413(cp, world, unchanged):
    body = b'{"name": "' + b"a" * (2 * 1024 * 1024) + b'"}'
    error_of(post_raw(cp.api, "/api/v1/organizations", body), 413, "request_entity_too_large")
    error_of(post_raw(cp.api.as_token(None), "/api/v1/auth/login", body), 413, "request_entity_too_large")


@pytest.mark.parametrize("body", [
    b'{"name": "\xff\xfe Org"}',                # not UTF-8
    b'{"name": "NUL \x00 in a string"}',         # a raw control character: not JSON
    b'{"name": "tab \t in a string"}',
    b'{"name": "Sur \\ud800 Org", "address1": "1 Main St", "city": "Berlin", "state": "Berlin", "country": "DE"}',
    b"",
    b'{"name": "unterminated',
    '{"name": "UTF-16"}'.encode("utf-16"),
])
def test_what_is_not_json_is_malformed_json(cp, world, unchanged, body):
    error_of(post_raw(cp.api, "/api/v1/organizations", body), 400, "malformed_json")


def test_control_characters_sent_as_escapes_are_refused_by_the_field(cp, world, unchanged):
    for name in ("NUL \u0000 Org", "Bell \u0007 Org", "DEL \u007f Org"):
        body = json.dumps({"name": name, **ORG}).encode()
        error = error_of(post_raw(cp.api, "/api/v1/organizations", body), 400, "invalid_request")
        assert error["details"] == {"name": ["must not contain control characters"]}


def test_a_wrong_content_type_is_415(cp, world, unchanged):
    body = json.dumps({"name": "Typed Org", **ORG}).encode()
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "application/xml"):
        error_of(post_raw(cp.api, "/api/v1/organizations", body, content_type), 415, "unsupported_media_type")


def test_a_hundred_thousand_element_array_is_400(cp, world, unchanged):
    array = ("[" + ",".join(["1"] * 100_000) + "]").encode()
    error = error_of(post_raw(cp.api, "/api/v1/organizations", array), 400, "invalid_request")
    assert error["details"] == {"body": ["not an object"]}
    as_field = json.dumps({"name": ["x"] * 100_000, **ORG}).encode()
    error = error_of(post_raw(cp.api, "/api/v1/organizations", as_field), 400, "invalid_request")
    assert list(error["details"]) == ["name"]
