"""Logging in and out, tokens and API keys, lockout, the first-login password change, and the bad input around
them (issue 3), through HTTP. Revocation must hold on the very next request: the gateway authenticates from its
own copy of identity's principals, and a stale copy would let a dead token through."""
import re
import time

import pytest

from tests import factories
from tests.e2e.actors import (ADMINS, SECOND_PASSWORD, admin_body, error_of, identity_events, make_admin, mrao, rao,
                              unique)
from tests.e2e.conftest import Embedded

ME = "/api/v1/auth/me"
LOGIN = "/api/v1/auth/login"
LOGOUT = "/api/v1/auth/logout"
PASSWORD = "/api/v1/auth/password"
PUBLIC = {("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/api/v1/openapi.json"), ("POST", LOGIN),
          # the console's page and files, and its login (which sets the session cookie)
          ("GET", "/"), ("GET", "/console/{asset}"), ("POST", "/api/v1/auth/session"),
          # the link an email-DCV mail carries, outside /api/v1 (DESIGN §5): its code is the credential
          ("GET", "/dcv/{dcv_id}"), ("POST", "/dcv/{dcv_id}"),
          # what relying parties fetch without an account (DESIGN §5): CA certificates, CRLs, OCSP
          ("GET", "/ca/{ca_id}.crt"), ("GET", "/crl/{ca_id}.crl"), ("POST", "/ocsp"), ("GET", "/ocsp/{encoded}"),
          # the link of a collection mail: the link is the credential
          ("GET", "/collect/{token}"), ("GET", "/collect/cert/{collection_id}"),
          # a person's invitation link (client certificates): the link is the credential, once; then with the
          # person's password for the PKCS#12
          ("GET", "/forms/api/invitations/{token}"), ("POST", "/forms/api/invitations/{token}"),
          ("POST", "/forms/api/invitations/{token}/download"),
          # an enrollment account's applicant: the access code is the credential (locked after failures)
          ("POST", "/forms/api/accounts/{form_account_id}/authorize"),
          # the self-enrollment pages and their JSON API: the access code, the endpoint URL or the invitation link
          ("GET", "/forms/invitations/{token}"), ("GET", "/forms/{form_type}"), ("GET", "/forms/device/{uri_extension}"),
          ("POST", "/forms/api/accounts/{form_account_id}/form"), ("POST", "/forms/api/{form_type}/requests"),
          ("GET", "/forms/api/device/{uri_extension}"), ("POST", "/forms/api/device/{uri_extension}/requests"),
          ("GET", "/forms/api/invitations/{token}/certificate"),
          # ACME (RFC 8555): every request authenticates itself (a JWS by the account's key)
          ("GET", "/acme/{resource}"), ("POST", "/acme/{resource}"),
          # SCEP (RFC 8894) and EST (RFC 7030): the endpoint's challenge password, Basic credential, a one-time
          # challenge or the device's current certificate is the credential; GetCACert / cacerts need none
          *{(m, p) for m in ("GET", "POST") for p in ("/scep/{uri_extension}", "/scep/{uri_extension}/pkiclient.exe",
                                                    "/.well-known/est/{operation}",
                                                    "/.well-known/est/{uri_extension}/{operation}")}}
DURING_PASSWORD_CHANGE = {("POST", PASSWORD), ("POST", LOGOUT), ("GET", ME)}
UNKNOWN = "00000000-0000-4000-8000-0000000000aa"


@pytest.fixture(scope="module")
def org_id(api) -> str:
    return api.create_org(factories.organization(name=unique("Auth org ")))["organization_id"]


@pytest.fixture(scope="module")
def locking(tmp_path_factory):
    """A server that locks an account after 3 wrong passwords, for 2 seconds."""
    server = Embedded(tmp_path_factory.mktemp("var-lock"), tmp_path_factory.mktemp("logs-lock"),
                      CERTPLANE_LOGIN_MAX_FAILURES="3", CERTPLANE_LOCKOUT_SECONDS="2").start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def short_sessions(tmp_path_factory):
    """A server whose sessions last 2 seconds."""
    server = Embedded(tmp_path_factory.mktemp("var-ttl"), tmp_path_factory.mktemp("logs-ttl"),
                      CERTPLANE_SESSION_TTL="2").start()
    yield server
    server.stop()


def login(api, username, password):
    return api.as_token(None)("POST", LOGIN, json={"username": username, "password": password})


def operations(api):
    """(METHOD, path template, operation) of every operation in the OpenAPI document."""
    document = api("GET", "/api/v1/openapi.json").json()
    return [(method.upper(), path, op) for path, ops in document["paths"].items() for method, op in ops.items()]


def concrete(path: str, operation: dict | None = None) -> str:
    """The path with every parameter filled: an unknown id, or the first value a parameter offers (an enum)."""
    offered = {p["name"]: p["schema"]["enum"][0] for p in (operation or {}).get("parameters", ())
               if p.get("in") == "path" and "enum" in p.get("schema", {})}
    return re.sub(r"{([a-z_]+)}", lambda m: offered.get(m.group(1), UNKNOWN), path)


def call(api, method, path, operation=None):
    return api(method, concrete(path, operation), json={} if method in ("POST", "PUT", "PATCH") else None)


def eventually(probe, done, timeout=30.0):
    """Call `probe` until `done(result)`; the last result. No assertion on how long it took."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if done(result) or time.monotonic() > deadline:
            return result
        time.sleep(0.2)


# ---- what needs authentication ------------------------------------------------------------------------------

def test_health_readiness_and_the_openapi_document_need_no_authentication(api):
    anonymous = api.as_token(None)
    assert anonymous("GET", "/healthz").json() == {"status": "ok"}
    assert anonymous("GET", "/readyz").status_code == 200
    assert anonymous("GET", "/api/v1/openapi.json").json()["paths"]
    assert {(m, p) for m, p, op in operations(api) if "security" not in op} == PUBLIC


def test_every_other_api_route_answers_401_without_a_token(api):
    anonymous = api.as_token(None)
    protected = [(m, p, op) for m, p, op in operations(api) if (m, p) not in PUBLIC]
    assert len(protected) >= 20
    for method, path, op in protected:
        assert path.startswith("/api/v1/")
        response = call(anonymous, method, path, op)
        assert response.status_code == 401, (method, path, response.text)
        if method != "HEAD":
            assert error_of(response)["code"] == "unauthenticated", (method, path)


@pytest.mark.parametrize("header,code", [
    ("Bearer", "invalid_token"),
    ("Bearer    ", "invalid_token"),
    ("Basic YWRtaW46c2VjcmV0", "invalid_token"),
    ("Token cps_abcdef", "invalid_token"),
    ("cps_abcdef", "invalid_token"),
    ("Bearer not-a-token-at-all", "invalid_token"),
    ("Bearer cps_never-issued-session-token", "invalid_token"),
    ("Bearer cpk_never-issued-api-key", "invalid_api_key"),
])
def test_a_garbled_or_unknown_authorization_header_is_401(api, header, code):
    response = api.as_token(None)("GET", ME, headers={"Authorization": header})
    assert response.status_code == 401, response.text
    assert error_of(response)["code"] == code


# ---- revocation takes effect on the very next request -------------------------------------------------------

def test_logout_revokes_the_token_at_once(api, embedded, org_id):
    record, me = make_admin(embedded, unique("leaving-"), [rao("ssl", org_id)])
    other_session = api.as_token(api.login(record["username"], SECOND_PASSWORD))
    assert me("GET", ME).status_code == 200
    assert me("POST", LOGOUT).status_code == 204
    response = me("GET", ME)
    assert response.status_code == 401 and error_of(response)["code"] == "invalid_token"
    assert me("POST", LOGOUT).status_code == 401
    assert other_session("GET", ME).status_code == 200          # only this session ended


def test_suspension_revokes_sessions_and_api_keys_at_once_and_reactivation_needs_a_new_login(api, embedded,
                                                                                               org_id):
    record, session = make_admin(embedded, unique("suspended-"), [rao("ssl", org_id)])
    path = f"{ADMINS}/{record['admin_id']}"
    issued = api("POST", f"{path}/api-keys", json={"name": "console admin's key"})
    assert issued.status_code == 201, issued.text
    keyed = api.as_token(issued.json()["key"])
    assert session("GET", ME).status_code == keyed("GET", ME).status_code == 200

    suspended = api("POST", f"{path}/suspend")
    assert suspended.status_code == 200 and suspended.json()["status"] == "suspended", suspended.text
    assert session("GET", ME).status_code == 401
    assert session("GET", "/api/v1/organizations").status_code == 401
    response = keyed("GET", ME)
    assert response.status_code == 401 and error_of(response)["code"] == "account_suspended"
    refused = login(api, record["username"], SECOND_PASSWORD)
    assert refused.status_code == 401 and error_of(refused)["code"] == "account_suspended"

    assert api("POST", f"{path}/reactivate").json()["status"] == "active"
    assert session("GET", ME).status_code == 401                # the old session stays dead
    fresh = login(api, record["username"], SECOND_PASSWORD)
    assert fresh.status_code == 200, fresh.text
    assert api.as_token(fresh.json()["token"])("GET", ME).json()["username"] == record["username"]


def test_suspending_an_api_only_admin_stops_its_key_at_once(api, embedded, org_id):
    record, keyed = make_admin(embedded, unique("robot-"), [rao("ssl", org_id)], ["ws_api_only"])
    assert keyed("GET", ME).json()["via"] == "api_key"
    assert api("POST", f"{ADMINS}/{record['admin_id']}/suspend").status_code == 200
    response = keyed("GET", "/api/v1/organizations")
    assert response.status_code == 401 and error_of(response)["code"] == "account_suspended"


def test_a_revoked_api_key_answers_401_at_once(api, embedded, org_id):
    record, keyed = make_admin(embedded, unique("robot-"), [rao("ssl", org_id)], ["ws_api_only"])
    path = f"{ADMINS}/{record['admin_id']}"
    spare = api.as_token(api("POST", f"{path}/api-keys", json={"name": "spare"}).json()["key"])
    key_id, = [k["key_id"] for k in api("GET", path).json()["api_keys"] if k["name"] == "tests"]
    assert keyed("GET", ME).status_code == 200
    assert api("DELETE", f"{path}/api-keys/{key_id}").status_code == 204
    response = keyed("GET", ME)
    assert response.status_code == 401 and error_of(response)["code"] == "invalid_api_key"
    assert spare("GET", ME).status_code == 200                  # only that key
    assert [k["revoked"] for k in api("GET", path).json()["api_keys"] if k["key_id"] == key_id] == [True]


def test_an_api_key_has_no_session_to_log_out(api, embedded, org_id):
    _record, keyed = make_admin(embedded, unique("robot-"), [rao("ssl", org_id)], ["ws_api_only"])
    response = keyed("POST", LOGOUT)
    assert response.status_code == 400 and error_of(response)["code"] == "not_a_session"
    assert keyed("GET", ME).status_code == 200


def test_changing_the_password_ends_the_other_sessions(api, embedded, org_id):
    record, first = make_admin(embedded, unique("changer-"), [rao("ssl", org_id)])
    second = api.as_token(api.login(record["username"], SECOND_PASSWORD))
    changed = second("POST", PASSWORD, json={"current_password": SECOND_PASSWORD,
                                             "new_password": "third secret phrase"})
    assert changed.status_code == 204, changed.text
    assert first("GET", ME).status_code == 401
    assert second("GET", ME).status_code == 200
    assert login(api, record["username"], SECOND_PASSWORD).status_code == 401
    assert login(api, record["username"], "third secret phrase").status_code == 200


# ---- lockout and release; expiry ----------------------------------------------------------------------------

def test_three_wrong_passwords_lock_the_account_until_the_lockout_passes(locking):
    record, _ = make_admin(locking, unique("forgetful-"), [mrao()])
    username = record["username"]
    for _ in range(3):
        wrong = login(locking.api, username, "not the password at all")
        assert wrong.status_code == 401 and error_of(wrong)["code"] == "wrong_credentials"
    locked = login(locking.api, username, SECOND_PASSWORD)
    assert locked.status_code == 401 and error_of(locked)["code"] == "account_locked"
    assert login(locking.api, "admin", locking.admin_password).status_code == 200   # only that account
    released = eventually(lambda: login(locking.api, username, SECOND_PASSWORD), lambda r: r.status_code != 401)
    assert released.status_code == 200, released.text
    assert locking.api.as_token(released.json()["token"])("GET", ME).json()["username"] == username


def test_an_expired_session_token_is_401_token_expired(short_sessions):
    token = short_sessions.api.login("admin", short_sessions.admin_password)
    me = short_sessions.api.as_token(token)
    expired = eventually(lambda: me("GET", ME), lambda r: r.status_code != 200)
    assert expired.status_code == 401 and error_of(expired)["code"] == "token_expired"
    assert login(short_sessions.api, "admin", short_sessions.admin_password).status_code == 200


# ---- the first-login password change ------------------------------------------------------------------------

def test_a_new_admin_must_change_the_password_before_anything_else(api, org_id):
    body = admin_body(unique("newbie-"), [rao("ssl", org_id)], password="initial secret phrase")
    assert api("POST", ADMINS, json=body).status_code == 201
    logged_in = login(api, body["username"], "initial secret phrase")
    assert logged_in.status_code == 200 and logged_in.json()["must_change_password"] is True
    newbie = api.as_token(logged_in.json()["token"])
    assert newbie("GET", ME).json()["must_change_password"] is True
    for method, path, op in operations(api):
        if (method, path) in PUBLIC | DURING_PASSWORD_CHANGE:
            continue
        response = call(newbie, method, path, op)
        assert response.status_code == 403, (method, path, response.text)
        if method != "HEAD":
            assert error_of(response)["code"] == "password_change_required", (method, path)
    changed = newbie("POST", PASSWORD, json={"current_password": "initial secret phrase",
                                             "new_password": SECOND_PASSWORD})
    assert changed.status_code == 204, changed.text
    assert newbie("GET", ME).json()["must_change_password"] is False
    assert newbie("GET", "/api/v1/organizations").status_code == 200


def test_a_password_set_by_another_admin_must_be_changed_at_the_next_login(api, embedded, org_id):
    record, session = make_admin(embedded, unique("reset-"), [rao("ssl", org_id)])
    assert api("POST", f"{ADMINS}/{record['admin_id']}/password",
               json={"password": "temporary secret phrase"}).status_code == 204
    assert session("GET", ME).status_code == 401                # its sessions ended
    logged_in = login(api, record["username"], "temporary secret phrase")
    assert logged_in.status_code == 200 and logged_in.json()["must_change_password"] is True
    response = api.as_token(logged_in.json()["token"])("GET", "/api/v1/organizations")
    assert response.status_code == 403 and error_of(response)["code"] == "password_change_required"


# ---- bad input: a clear 4xx with the reason, and nothing changed --------------------------------------------

@pytest.mark.parametrize("password,problem", [
    ("short phrase", None),                     # 12: the shortest allowed — the control
    ("too short!", "shorter than 12 characters"),
    ("{username} is mine", "contains the username"),
    ("my {USERNAME} phrase", "contains the username"),
    ("password1234", "too common"),
    ("Password1234", "too common"),
    ("aaaaaaaaaaaaaaaa", "too common"),
])
def test_a_weak_initial_password_is_400_and_creates_nobody(api, embedded, org_id, password, problem):
    username = unique("weak-")
    body = admin_body(username, [rao("ssl", org_id)],
                      password=password.format(username=username, USERNAME=username.upper()))
    before = identity_events(embedded)
    response = api("POST", ADMINS, json=body)
    if problem is None:
        assert response.status_code == 201, response.text
        return
    assert response.status_code == 400, response.text
    error = error_of(response)
    assert error["code"] == "weak_password" and problem in error["details"]["password"]
    assert identity_events(embedded) == before
    assert login(api, username, body["password"]).status_code == 401


@pytest.fixture(scope="module")
def keeper(embedded, org_id):
    """One admin for the refused password changes below: a refusal changes nothing, so they can share it."""
    return make_admin(embedded, unique("keeper-"), [rao("ssl", org_id)])


@pytest.mark.parametrize("new_password,code", [
    ("too short!", "weak_password"),
    ("{username} again", "weak_password"),
    ("qwerty123456", "weak_password"),
    (SECOND_PASSWORD, "reused_password"),            # the current one
    ("initial secret phrase", "reused_password"),    # the one before
])
def test_a_weak_or_reused_new_password_is_400_and_the_old_one_still_works(api, embedded, keeper, new_password,
                                                                          code):
    record, me = keeper
    before = identity_events(embedded)
    response = me("POST", PASSWORD, json={"current_password": SECOND_PASSWORD,
                                          "new_password": new_password.format(username=record["username"])})
    assert response.status_code == 400, response.text
    assert error_of(response)["code"] == code
    assert identity_events(embedded) == before
    assert me("GET", ME).status_code == 200
    assert login(api, record["username"], SECOND_PASSWORD).status_code == 200


def test_a_wrong_current_password_cannot_change_it(api, keeper):
    record, me = keeper
    response = me("POST", PASSWORD, json={"current_password": "a guess at it", "new_password": "third secret phrase"})
    assert response.status_code == 401 and error_of(response)["code"] == "wrong_credentials"
    assert login(api, record["username"], SECOND_PASSWORD).status_code == 200


def test_a_duplicate_username_in_any_case_is_409(api, embedded, org_id):
    username = unique("Twin-")
    assert api("POST", ADMINS, json=admin_body(username, [rao("ssl", org_id)])).status_code == 201
    before = identity_events(embedded)
    for variant in (username, username.upper(), username.lower()):
        response = api("POST", ADMINS, json=admin_body(variant, [rao("client", org_id)]))
        assert response.status_code == 409, response.text
        assert error_of(response)["code"] == "duplicate_username"
    assert identity_events(embedded) == before
    names = [a["username"] for a in api("GET", ADMINS, params={"size": 200}).json()["items"]]
    assert [n for n in names if n.casefold() == username.casefold()] == [username]


@pytest.mark.parametrize("role,field", [
    ({"role": "RAO", "cert_type": "ssl", "organization_ids": [UNKNOWN]}, "organization_ids"),
    ({"role": "DRAO", "cert_type": "client", "department_ids": [UNKNOWN]}, "department_ids"),
])
def test_an_unknown_organization_or_department_in_a_role_is_400(api, embedded, org_id, role, field):
    username = unique("nowhere-")
    before = identity_events(embedded)
    response = api("POST", ADMINS, json=admin_body(username, [role]))
    assert response.status_code == 400, response.text
    assert error_of(response)["details"][field] == [UNKNOWN]

    record, _ = make_admin(embedded, unique("somewhere-"), [rao("ssl", org_id)])
    before = identity_events(embedded)
    response = api("PUT", f"{ADMINS}/{record['admin_id']}/access", json={"roles": [role], "privileges": []})
    assert response.status_code == 400, response.text
    assert error_of(response)["details"][field] == [UNKNOWN]
    assert identity_events(embedded) == before
    assert api("GET", f"{ADMINS}/{record['admin_id']}").json()["roles"] == record["roles"]
    assert login(api, username, "a fine long passphrase").status_code == 401


def test_an_api_only_admin_has_no_password(api, embedded, org_id):
    username = unique("robot-")
    before = identity_events(embedded)
    response = api("POST", ADMINS, json=admin_body(username, [rao("ssl", org_id)], ["ws_api_only"],
                                                   password="a fine long passphrase"))
    assert response.status_code == 400 and "password" in error_of(response)["details"], response.text
    assert identity_events(embedded) == before

    record, keyed = make_admin(embedded, username, [rao("ssl", org_id)], ["ws_api_only"])
    for password in ("a fine long passphrase", "x"):
        refused = login(api, username, password)
        assert refused.status_code == 401 and error_of(refused)["code"] == "wrong_credentials"
    refused = api("POST", f"{ADMINS}/{record['admin_id']}/password", json={"password": "a fine long passphrase"})
    assert refused.status_code == 409 and error_of(refused)["code"] == "api_only"
    assert keyed("GET", ME).status_code == 200


def test_an_unknown_username_gets_the_same_answer_as_a_wrong_password(api, embedded, org_id):
    record, _ = make_admin(embedded, unique("known-"), [rao("ssl", org_id)])
    wrong_password = login(api, record["username"], "not the password at all")
    unknown_user = login(api, unique("nobody-"), "not the password at all")
    assert wrong_password.status_code == unknown_user.status_code == 401
    a, b = error_of(wrong_password), error_of(unknown_user)
    assert (a["code"], a["message"], a["details"]) == (b["code"], b["message"], b["details"])
    assert a["code"] == "wrong_credentials"


def test_error_details_are_an_object_even_when_a_service_names_none(api, embedded, keeper, org_id):
    """DESIGN §5: errors are {"error": {"code", "message", "details", "correlation_id"}}; a client reads details
    as an object. Refusals raised inside a service with no details must not arrive as the string "None"."""
    record, me = keeper
    robot, _ = make_admin(embedded, unique("robot-"), [rao("ssl", org_id)], ["ws_api_only"])
    answers = {
        "unknown username": login(api, unique("nobody-"), "not the password at all"),
        "wrong current password": me("POST", PASSWORD, json={"current_password": "a guess at it",
                                                             "new_password": "third secret phrase"}),
        "password for an API-only admin": api("POST", f"{ADMINS}/{robot['admin_id']}/password",
                                              json={"password": "a fine long passphrase"}),
    }
    shapes = {what: type(error_of(response)["details"]).__name__ for what, response in answers.items()}
    assert shapes == {what: "dict" for what in answers}
