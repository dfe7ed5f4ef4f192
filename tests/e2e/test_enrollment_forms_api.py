"""Enrollment form accounts and device enrollment endpoints over REST (issue 15): an MRAO, or an RAO / DRAO of the
account's type for the organization / department, creates, lists, counts, changes and deletes them; one outside
the caller's scope is 404 and never listed; the access code is in no answer and in no event enrollment recorded;
every bad input is a clear 4xx that creates nothing (control characters or 10,000 characters in a code, a profile
of another type, a help text of 2049 characters, a taken URI extension).

SCEP and EST endpoints (issue 16): the create answer holds the server-made credential once (never a GET, a list or
an event), a rotation answers a new one once, a one-time challenge is answered once (201) and then listed without
itself; a web_form endpoint has no credential (409 no_credential on rotate and on issuing a challenge); a bad
challenge (0 or 10,000 hours, a 129-character or control-character device name) is 400 naming the field and issues
nothing; outside the caller's scope every one of these routes is 404. On the shared device server (`device_env`,
with its EST listener): an est endpoint's `est_url` is the listener's, and after a rotation scepclient enrolls with
the new password only."""
import sqlite3
import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from contracts import enrollment_forms as forms_contract
from gateway import schemas
from gateway.api_enrollment_forms import DeviceChallengeIssued, DeviceChallengeList, DeviceEndpointWithCredentials
from tests.e2e.actors import drao, error_of, rao, unique
from tests.e2e.conftest import Embedded
from tests.e2e.test_ssl_lifecycle import ORG, wait_for_profiles

ACCOUNTS = "/api/v1/enrollment-accounts"
ENDPOINTS = "/api/v1/device-endpoints"
CODE = "e2e access code 42"
LOCKOUT_SECONDS = 6


@pytest.fixture(scope="module")
def cp(tmp_path_factory):
    # a lockout short enough to see it pass (the default is 900 s)
    server = Embedded(tmp_path_factory.mktemp("var"), tmp_path_factory.mktemp("logs"),
                      CERTPLANE_FORM_ACCESS_LOCKOUT_SECONDS=str(LOCKOUT_SECONDS)).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def world(cp):
    """Organization A (department A1) and B; a profile of each type; the actors: RAO client A, DRAO client A1,
    RAO ssl A, RAO device A, RAO client B (the initial MRAO is cp.api)."""
    api = cp.api
    orgs, departments = {}, {}
    for org, names in (("A", ("A1",)), ("B", ("B1",))):
        orgs[org] = api.create_org({"name": unique(f"Forms org {org} "), **ORG})["organization_id"]
        for name in names:
            made = api("POST", f"/api/v1/organizations/{orgs[org]}/departments", json={"name": name})
            assert made.status_code == 201, made.text
            departments[name] = made.json()["department_id"]
    profiles = {}
    for profile in wait_for_profiles(api):
        profiles.setdefault(profile["cert_type"], profile["profile_id"])
    actors = {}
    for name, role in (("RAO client A", rao("client", orgs["A"])),
                       ("DRAO client A1", drao("client", departments["A1"])),
                       ("RAO ssl A", rao("ssl", orgs["A"])), ("RAO device A", rao("device", orgs["A"])),
                       ("RAO client B", rao("client", orgs["B"]))):
        _record, actors[name] = cp.admin(unique(name.lower().replace(" ", "-") + "-"), [role])
    for name, org in (("forms-a.example", "A"), ("forms-b.example", "B")):      # delegated for client, approved
        made = api("POST", "/api/v1/domains", json={"name": name, "delegations": [
            {"organization_id": orgs[org], "cert_types": ["client"]}]})
        assert made.status_code == 201, made.text
    made = api("POST", "/api/v1/domains", json={"name": "tls-only.example", "delegations": [
        {"organization_id": orgs["A"], "cert_types": ["ssl"]}]})
    assert made.status_code == 201, made.text
    return {"orgs": orgs, "departments": departments, "profiles": profiles, "actors": actors}


def account_body(world, org="A", department=None, cert_type="client", **overrides) -> dict:
    body = {"name": unique("forms "), "cert_type": cert_type, "organization_id": world["orgs"][org],
            "department_id": world["departments"][department] if department else None,
            "profile_ids": [world["profiles"][cert_type]], "csr_generation": ["browser", "provided"],
            "access_code": CODE}
    body.update(overrides)
    return body


def create_account(api, world, expect=201, **kwargs) -> dict:
    response = api("POST", ACCOUNTS, json=account_body(world, **kwargs))
    assert response.status_code == expect, response.text
    return response.json()


def endpoint_body(world, org="A", **overrides) -> dict:
    body = {"name": unique("printers "), "organization_id": world["orgs"][org],
            "profile_ids": [world["profiles"]["device"]]}
    body.update(overrides)
    return body


def create_endpoint(api, world, expect=201, **kwargs) -> dict:
    response = api("POST", ENDPOINTS, json=endpoint_body(world, **kwargs))
    assert response.status_code == expect, response.text
    return response.json()


def listed(api, path=ACCOUNTS, **params) -> dict:
    response = api("GET", path, params={"size": 200, **params})
    assert response.status_code == 200, response.text
    page = response.json()
    assert response.headers["X-Total-Count"] == str(page["total"]) and len(page["items"]) == page["total"]
    schema = schemas.FormAccountList() if path == ACCOUNTS else schemas.DeviceEndpointList()
    assert schema.validate(page) == {}
    return page


def ids(page: dict, key="form_account_id") -> set[str]:
    return {item[key] for item in page["items"]}


def enrollment_events(cp: Embedded) -> str:
    """Every payload and metadata enrollment recorded, as one text (its SQLite store)."""
    path = cp.var_dir / "enrollment.sqlite3"
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10) as conn:
        return "\n".join(f"{p} {m}" for p, m in conn.execute("SELECT payload, metadata FROM events ORDER BY position"))


# ---- enrollment form accounts --------------------------------------------------------------------------------

def test_an_mrao_creates_an_account_whose_code_no_answer_or_event_shows(cp, world):
    sent = account_body(world, auto_approve=True, allow_empty_pkcs12_password=True)
    response = cp.api("POST", ACCOUNTS, json=sent)
    assert response.status_code == 201, response.text
    made = response.json()
    assert schemas.FormAccount().validate(made) == {}, made
    assert response.headers["Location"] == f"{ACCOUNTS}/{made['form_account_id']}"
    assert made["has_access_code"] and "access_code" not in made and made["status"] == "active"
    assert (made["name"], made["cert_type"]) == (sent["name"], "client")
    assert made["organization_id"] == sent["organization_id"]
    assert made["auto_approve"] and made["allow_empty_pkcs12_password"] and not made["auto_renew"]
    shown = cp.api("GET", f"{ACCOUNTS}/{made['form_account_id']}")
    assert shown.status_code == 200 and shown.json() == made
    events = enrollment_events(cp)
    assert made["form_account_id"] in events
    for text in (response.text, shown.text, cp.api("GET", ACCOUNTS, params={"size": 200}).text, events):
        assert CODE not in text


def test_roles_of_the_type_create_for_their_place_and_others_are_refused(cp, world):
    actors = world["actors"]
    assert create_account(actors["RAO client A"], world)["organization_id"] == world["orgs"]["A"]
    assert create_account(actors["DRAO client A1"], world, department="A1")["department_id"] == \
        world["departments"]["A1"]
    before = listed(cp.api)["total"]
    refused = actors["RAO ssl A"]("POST", ACCOUNTS, json=account_body(world))   # sees A, not client there
    assert refused.status_code == 403, refused.text
    assert "client" in error_of(refused)["details"]["missing"]
    whole = actors["DRAO client A1"]("POST", ACCOUNTS, json=account_body(world))
    assert whole.status_code == 403, whole.text
    outside = actors["RAO client B"]("POST", ACCOUNTS, json=account_body(world))
    assert outside.status_code == 404 and error_of(outside)["details"]["kind"] == "organization"
    assert listed(cp.api)["total"] == before


@pytest.fixture(scope="module")
def placed(cp, world):
    return {"A": create_account(cp.api, world), "A1": create_account(cp.api, world, department="A1"),
            "B": create_account(cp.api, world, org="B"),
            "A ssl": create_account(cp.api, world, cert_type="ssl")}


def test_lists_and_counts_show_what_the_roles_cover(cp, world, placed):
    mine = {k: v["form_account_id"] for k, v in placed.items()}
    actors = world["actors"]
    assert set(mine.values()) <= ids(listed(cp.api))
    assert ids(listed(actors["RAO client A"])) & set(mine.values()) == {mine["A"], mine["A1"]}
    assert ids(listed(actors["DRAO client A1"])) & set(mine.values()) == {mine["A1"]}
    assert ids(listed(actors["RAO ssl A"])) & set(mine.values()) == {mine["A ssl"]}
    assert ids(listed(actors["RAO client B"])) & set(mine.values()) == {mine["B"]}
    assert ids(listed(actors["RAO device A"])) & set(mine.values()) == set()
    assert mine["A ssl"] in ids(listed(cp.api, cert_type="ssl"))
    assert not ids(listed(cp.api, cert_type="ssl")) & {mine["A"], mine["A1"], mine["B"]}
    for actor in actors.values():
        counted = actor("HEAD", ACCOUNTS)
        assert counted.status_code == 200 and counted.headers["X-Total-Count"] == str(listed(actor)["total"])
    assert cp.api("GET", ACCOUNTS, params={"cert_type": "smime"}).status_code == 400


def test_an_account_outside_the_scope_is_404_as_if_it_did_not_exist(cp, world, placed):
    a = placed["A"]["form_account_id"]
    actors = world["actors"]
    for actor, account in ((actors["RAO client B"], a), (actors["DRAO client A1"], a), (actors["RAO ssl A"], a),
                           (actors["RAO client A"], placed["A ssl"]["form_account_id"])):
        for method, kwargs in (("GET", {}), ("PATCH", {"json": {"name": "taken over"}}), ("DELETE", {})):
            answer = actor(method, f"{ACCOUNTS}/{account}", **kwargs)
            assert answer.status_code == 404, (method, answer.text)
            assert error_of(answer)["details"] == {"kind": "form_account", "id": account}
    assert cp.api("GET", f"{ACCOUNTS}/{a}").json()["name"] == placed["A"]["name"]
    assert cp.api("GET", f"{ACCOUNTS}/{uuid.uuid4()}").status_code == 404
    assert cp.api("GET", f"{ACCOUNTS}/not-an-id").status_code == 404


def test_a_change_keeps_the_place_and_type_and_a_new_code_is_never_shown(cp, world):
    made = create_account(world["actors"]["RAO client A"], world)
    path = f"{ACCOUNTS}/{made['form_account_id']}"
    changed = world["actors"]["RAO client A"]("PATCH", path, json={"name": "renamed", "auto_renew": True,
                                                                   "access_code": "another fine code"})
    assert changed.status_code == 200, changed.text
    assert changed.json()["name"] == "renamed" and changed.json()["auto_renew"]
    assert changed.json()["access_code_changed_at"] and "another fine code" not in changed.text
    assert "another fine code" not in enrollment_events(cp)
    for fixed in ({"organization_id": world["orgs"]["B"]}, {"cert_type": "ssl"},
                  {"department_id": world["departments"]["A1"]}):
        refused = cp.api("PATCH", path, json=fixed)
        assert refused.status_code == 400, refused.text
        assert set(fixed) <= set(error_of(refused)["details"])
    other_type = cp.api("PATCH", path, json={"profile_ids": [world["profiles"]["ssl"]]})
    assert other_type.status_code == 422, other_type.text
    assert cp.api("GET", path).json()["profile_ids"] == made["profile_ids"]
    disabled = cp.api("PATCH", path, json={"status": "disabled"})
    assert disabled.status_code == 200 and disabled.json()["status"] == "disabled"


def test_deleting_an_account_removes_it(cp, world):
    made = create_account(cp.api, world)
    path = f"{ACCOUNTS}/{made['form_account_id']}"
    assert world["actors"]["RAO client A"]("DELETE", path).status_code == 204
    assert cp.api("GET", path).status_code == 404
    assert made["form_account_id"] not in ids(listed(cp.api))


BAD_ACCOUNTS = {
    # name: (the body's change, the status, a word the answer must name)
    "control characters in the code": (lambda w: {"access_code": "bad\x00code\x1b[0m!"}, 400, "access_code"),
    "a line break in the code": (lambda w: {"access_code": "two\nlines here"}, 400, "access_code"),
    "a 10,000-character code": (lambda w: {"access_code": "x" * 10_000}, 400, "access_code"),
    "a short code": (lambda w: {"access_code": "short"}, 400, "access_code"),
    "no code": (lambda w: {"access_code": None}, 400, "access_code"),
    "a profile of another type": (lambda w: {"profile_ids": [w["profiles"]["client"], w["profiles"]["ssl"]]}, 422,
                                  "client"),
    "an unknown profile": (lambda w: {"profile_ids": [str(uuid.uuid4())]}, 422, "profile"),
    "no CSR generation": (lambda w: {"csr_generation": []}, 400, "csr_generation"),
    "an unknown CSR generation": (lambda w: {"csr_generation": ["server"]}, 400, "csr_generation"),
    "an empty PKCS#12 password for ssl": (lambda w: {"cert_type": "ssl", "profile_ids": [w["profiles"]["ssl"]],
                                                     "allow_empty_pkcs12_password": True}, 400, "pkcs12"),
    "an unknown type": (lambda w: {"cert_type": "smime"}, 400, "cert_type"),
    "a long name": (lambda w: {"name": "x" * 129}, 400, "name"),
    "an unknown organization": (lambda w: {"organization_id": str(uuid.uuid4())}, 404, "organization"),
    "a department of another organization": (lambda w: {"department_id": w["departments"]["B1"]}, 404,
                                             "department"),
    "an unknown field": (lambda w: {"access_code_hash": "$argon2id$"}, 400, "access_code_hash"),
}


@pytest.mark.parametrize("case", BAD_ACCOUNTS)
def test_a_bad_account_is_refused_with_its_reason_and_creates_nothing(cp, world, case):
    change, status, word = BAD_ACCOUNTS[case]
    sent = {**account_body(world), **change(world)}
    sent = {k: v for k, v in sent.items() if v is not None or k == "department_id"}
    before = enrollment_events(cp).count("form_account_created")
    refused = cp.api("POST", ACCOUNTS, json=sent)
    assert refused.status_code == status, refused.text
    error = error_of(refused)
    assert word in (error["message"] + str(error["details"])).lower(), error
    assert str(sent.get("access_code")) not in refused.text
    assert enrollment_events(cp).count("form_account_created") == before


# ---- an applicant opens an account's form (public) ----------------------------------------------------------

def authorize(cp, account_id, code=CODE, email="pat@forms-a.example"):
    return cp.api.as_token(None)("POST", f"/forms/api/accounts/{account_id}/authorize",
                                 json={"access_code": code, "email": email})


def test_the_right_code_and_a_delegated_email_open_the_form(cp, world):
    made = create_account(cp.api, world)
    opened = authorize(cp, made["form_account_id"], email="Pat@Mail.Forms-A.example")
    assert opened.status_code == 200, opened.text
    assert schemas.FormApplicantAccess().validate(opened.json()) == {}
    assert opened.json()["form_account_id"] == made["form_account_id"]
    assert opened.json()["profile_ids"] == made["profile_ids"] and "created_by" not in opened.json()
    assert CODE not in opened.text and CODE not in enrollment_events(cp)


@pytest.mark.parametrize("email", ["pat@forms-b.example", "pat@nowhere.invalid", "pat@tls-only.example"])
def test_an_email_outside_the_organizations_client_domains_is_422(cp, world, email):
    made = create_account(cp.api, world)
    refused = authorize(cp, made["form_account_id"], email=email)
    assert refused.status_code == 422, refused.text
    assert error_of(refused)["code"] == "email_not_delegated" and "email" in error_of(refused)["details"]


def test_five_wrong_codes_lock_the_account_and_the_right_one_is_refused_until_it_passes(cp, world):
    account_id = create_account(cp.api, world)["form_account_id"]
    for failures in range(1, 6):
        wrong = authorize(cp, account_id, code="not the right code")
        assert wrong.status_code == 403, wrong.text
        assert error_of(wrong)["code"] == "access_code_wrong"
        assert error_of(wrong)["details"]["consecutive_failures"] == failures
    locked_until = datetime.fromisoformat(error_of(wrong)["details"]["locked_until"])
    for code in (CODE, "not the right code"):
        locked = authorize(cp, account_id, code=code)
        assert locked.status_code == 401, locked.text
        assert error_of(locked)["code"] == "account_locked" and "locked for a while" in error_of(locked)["message"]
    assert cp.api("GET", f"{ACCOUNTS}/{account_id}").json()["locked_until"] == locked_until.isoformat()
    events = enrollment_events(cp)
    assert events.count(account_id) >= 6 and "not the right code" not in events
    time.sleep(max(0.0, (locked_until - datetime.now(timezone.utc)).total_seconds()) + 0.5)
    assert authorize(cp, account_id).status_code == 200                   # the lockout passed; the count resets
    assert error_of(authorize(cp, account_id, code="still not it"))["details"]["consecutive_failures"] == 1


@pytest.mark.parametrize("code", ["bad\x00code\x1b[0m!", "x" * 10_000])
def test_a_code_with_control_characters_or_of_10000_characters_is_400_and_counts_nothing(cp, world, code):
    account_id = create_account(cp.api, world)["form_account_id"]
    before = enrollment_events(cp).count("form_access_failed")
    refused = authorize(cp, account_id, code=code.encode().decode("unicode_escape"))
    assert refused.status_code == 400, refused.text
    assert "access_code" in error_of(refused)["details"]
    assert enrollment_events(cp).count("form_access_failed") == before


def test_a_disabled_or_unknown_account_admits_nobody(cp, world):
    account_id = create_account(cp.api, world)["form_account_id"]
    assert cp.api("PATCH", f"{ACCOUNTS}/{account_id}", json={"status": "disabled"}).status_code == 200
    disabled = authorize(cp, account_id)
    assert disabled.status_code == 403 and error_of(disabled)["code"] == "form_account_disabled"
    for unknown in (str(uuid.uuid4()), "not-an-id"):
        assert authorize(cp, unknown).status_code == 404


# ---- device enrollment endpoints --------------------------------------------------------------------------------

def test_an_endpoint_gets_a_generated_extension_and_the_form_url(cp, world):
    response = cp.api("POST", ENDPOINTS, json=endpoint_body(world, help_text="Plug it in.\nThen enroll.",
                                                            help_link_text="Help"))
    assert response.status_code == 201, response.text
    made = response.json()
    assert schemas.DeviceEndpoint().validate(made) == {}, made
    assert response.headers["Location"] == f"{ENDPOINTS}/{made['endpoint_id']}"
    extension = made["uri_extension"]
    assert len(extension) == 16 and extension.isalnum() and extension == extension.lower()
    assert made["form_url"] == f"{cp.api.base_url}/forms/device/{extension}"
    assert made["type"] == "web_form" and made["help_text"] == "Plug it in.\nThen enroll."
    generated = create_endpoint(cp.api, world, generate=True)
    assert generated["uri_extension"] != extension
    assert cp.api("GET", f"{ENDPOINTS}/{made['endpoint_id']}").json() == made


def test_a_taken_extension_is_409_and_free_again_once_its_endpoint_is_deleted(cp, world):
    extension = unique("printers-")
    first = create_endpoint(cp.api, world, uri_extension=extension)
    taken = cp.api("POST", ENDPOINTS, json=endpoint_body(world, org="B", uri_extension=extension))
    assert taken.status_code == 409, taken.text
    assert error_of(taken)["code"] == "uri_extension_taken"
    assert cp.api("DELETE", f"{ENDPOINTS}/{first['endpoint_id']}").status_code == 204
    assert create_endpoint(cp.api, world, uri_extension=extension)["uri_extension"] == extension


def test_endpoints_are_scoped_to_device_roles(cp, world):
    a = create_endpoint(world["actors"]["RAO device A"], world)
    b = create_endpoint(cp.api, world, org="B")
    assert {a["endpoint_id"], b["endpoint_id"]} <= ids(listed(cp.api, ENDPOINTS), "endpoint_id")
    seen = ids(listed(world["actors"]["RAO device A"], ENDPOINTS), "endpoint_id")
    assert a["endpoint_id"] in seen and b["endpoint_id"] not in seen
    assert listed(world["actors"]["RAO client A"], ENDPOINTS)["total"] == 0
    counted = world["actors"]["RAO device A"]("HEAD", ENDPOINTS)
    assert counted.headers["X-Total-Count"] == str(len(seen))
    for actor in (world["actors"]["RAO client A"], world["actors"]["RAO client B"]):
        answer = actor("GET", f"{ENDPOINTS}/{a['endpoint_id']}")
        assert answer.status_code == 404 and error_of(answer)["details"]["kind"] == "device_endpoint"
    refused = world["actors"]["RAO client A"]("POST", ENDPOINTS, json=endpoint_body(world))
    assert refused.status_code == 403, refused.text


def test_an_endpoint_change_keeps_its_extension(cp, world):
    made = create_endpoint(cp.api, world)
    path = f"{ENDPOINTS}/{made['endpoint_id']}"
    changed = cp.api("PATCH", path, json={"name": "scanners", "help_text": "x" * 2048})
    assert changed.status_code == 200, changed.text
    assert changed.json()["name"] == "scanners" and changed.json()["uri_extension"] == made["uri_extension"]
    for fixed in ({"uri_extension": "elsewhere"}, {"organization_id": world["orgs"]["B"]}):
        assert cp.api("PATCH", path, json=fixed).status_code == 400
    assert cp.api("PATCH", path, json={"help_text": "x" * 2049}).status_code == 400


BAD_ENDPOINTS = {
    "help text of 2049 characters": (lambda w: {"help_text": "x" * 2049}, 400, "help_text"),
    "a control character in the help text": (lambda w: {"help_text": "bell\x07"}, 400, "help_text"),
    "a long help link text": (lambda w: {"help_link_text": "x" * 129}, 400, "help_link_text"),
    "an ssl profile": (lambda w: {"profile_ids": [w["profiles"]["ssl"]]}, 422, "device"),
    "a bad extension": (lambda w: {"uri_extension": "Not/Good"}, 400, "uri_extension"),
    "a short extension": (lambda w: {"uri_extension": "ab"}, 400, "uri_extension"),
    "an extension and generate": (lambda w: {"uri_extension": "both-ways", "generate": True}, 400, "uri_extension"),
    "an unknown type": (lambda w: {"type": "cmp"}, 400, "type"),
    "no name": (lambda w: {"name": None}, 400, "name"),
}


@pytest.mark.parametrize("case", BAD_ENDPOINTS)
def test_a_bad_endpoint_is_refused_with_its_reason_and_creates_nothing(cp, world, case):
    change, status, word = BAD_ENDPOINTS[case]
    sent = {k: v for k, v in {**endpoint_body(world), **change(world)}.items() if v is not None}
    before = listed(cp.api, ENDPOINTS)["total"]
    refused = cp.api("POST", ENDPOINTS, json=sent)
    assert refused.status_code == status, refused.text
    error = error_of(refused)
    assert word in (error["message"] + str(error["details"])).lower(), error
    assert listed(cp.api, ENDPOINTS)["total"] == before


# ---- scep and est endpoints: the credential once, rotation, one-time challenges (issue 16) ----------------------

def is_credential(text) -> bool:
    return (isinstance(text, str) and len(text) == forms_contract.CREDENTIAL_LENGTH
            and set(text) <= set(forms_contract.CREDENTIAL_ALPHABET))


def secrets_seen_after(cp, endpoint_id: str, *secrets_: str) -> list[str]:
    """The secrets that any later answer about the endpoint, its list, its challenges or an event shows."""
    texts = [cp.api("GET", f"{ENDPOINTS}/{endpoint_id}").text, cp.api("GET", ENDPOINTS, params={"size": 200}).text,
             cp.api("GET", f"{ENDPOINTS}/{endpoint_id}/challenges").text, enrollment_events(cp)]
    return [secret for secret in secrets_ if any(secret in text for text in texts)]


def test_an_scep_endpoint_answers_its_challenge_password_once(cp, world):
    response = cp.api("POST", ENDPOINTS, json=endpoint_body(world, type="scep"))
    assert response.status_code == 201, response.text
    made = response.json()
    assert DeviceEndpointWithCredentials().validate(made) == {}, made
    assert response.headers["Cache-Control"] == "no-store"
    password = made["credentials"]["challenge_password"]
    assert set(made["credentials"]) == {"challenge_password"} and is_credential(password)
    assert made["type"] == "scep" and made["scep_url"] == f"{cp.api.base_url}/scep/{made['uri_extension']}"
    assert made["est_url"] is None and made["credential_set_at"]
    shown = cp.api("GET", f"{ENDPOINTS}/{made['endpoint_id']}")
    assert shown.status_code == 200 and "credentials" not in shown.json()
    assert shown.json() == {k: v for k, v in made.items() if k != "credentials"}
    assert secrets_seen_after(cp, made["endpoint_id"], password) == []


def test_an_est_endpoint_answers_its_basic_username_and_password_once(cp, world):
    made = create_endpoint(cp.api, world, type="est", uri_extension=unique("est-fleet-"))
    assert DeviceEndpointWithCredentials().validate(made) == {}, made
    credentials = made["credentials"]
    assert set(credentials) == {"username", "password"} and credentials["username"] == made["uri_extension"]
    assert is_credential(credentials["password"])
    assert made["est_url"] is None          # this server runs no EST listener (est_port unset): no URL to give
    assert made["scep_url"] is None and made["type"] == "est"
    assert "credentials" not in cp.api("GET", f"{ENDPOINTS}/{made['endpoint_id']}").json()
    assert secrets_seen_after(cp, made["endpoint_id"], credentials["password"]) == []


@pytest.mark.parametrize("kind", ["scep", "est"])
def test_rotating_answers_a_new_credential_once(cp, world, kind):
    made = create_endpoint(world["actors"]["RAO device A"], world, type=kind)
    old = made["credentials"]
    rotated = world["actors"]["RAO device A"]("POST", f"{ENDPOINTS}/{made['endpoint_id']}/credentials")
    assert rotated.status_code == 200, rotated.text
    assert rotated.headers["Cache-Control"] == "no-store"
    body = rotated.json()
    assert DeviceEndpointWithCredentials().validate(body) == {}, body
    assert set(body["credentials"]) == set(old) and body["credentials"] != old
    new_secret = body["credentials"].get("challenge_password") or body["credentials"]["password"]
    assert is_credential(new_secret)
    assert body["credential_set_at"] >= made["credential_set_at"] and body["uri_extension"] == made["uri_extension"]
    again = cp.api("POST", f"{ENDPOINTS}/{made['endpoint_id']}/credentials").json()["credentials"]
    assert again not in (old, body["credentials"])
    old_secret = old.get("challenge_password") or old["password"]
    assert secrets_seen_after(cp, made["endpoint_id"], old_secret, new_secret) == []


def test_a_web_form_endpoint_has_no_credential_and_takes_no_challenges(cp, world):
    """409 no_credential (the endpoint exists; its type has no credential): a web form's URL is public."""
    made = create_endpoint(cp.api, world)
    assert "credentials" not in made and made["credential_set_at"] is None
    for path, kwargs in (("credentials", {}), ("challenges", {"json": {"device_name": "printer-1"}})):
        refused = cp.api("POST", f"{ENDPOINTS}/{made['endpoint_id']}/{path}", **kwargs)
        assert refused.status_code == 409, (path, refused.text)
        assert error_of(refused)["code"] == "no_credential" and "web_form" in error_of(refused)["message"]
    listed_challenges = cp.api("GET", f"{ENDPOINTS}/{made['endpoint_id']}/challenges")
    assert listed_challenges.status_code == 200 and listed_challenges.json() == {"items": []}
    assert cp.api("GET", f"{ENDPOINTS}/{made['endpoint_id']}").json() == made


@pytest.mark.parametrize("kind", ["scep", "est"])
def test_a_one_time_challenge_is_answered_once_then_listed_without_it(cp, world, kind):
    made = create_endpoint(cp.api, world, type=kind)
    path = f"{ENDPOINTS}/{made['endpoint_id']}/challenges"
    response = cp.api("POST", path, json={"device_name": "printer-3rd-floor", "valid_hours": 2})
    assert response.status_code == 201, response.text
    assert response.headers["Cache-Control"] == "no-store"
    issued = response.json()
    assert DeviceChallengeIssued().validate(issued) == {}, issued
    assert is_credential(issued["challenge"]) and issued["status"] == "issued"
    assert issued["device_name"] == "printer-3rd-floor" and issued["endpoint_id"] == made["endpoint_id"]
    lasts = datetime.fromisoformat(issued["expires_at"]) - datetime.fromisoformat(issued["issued_at"])
    assert abs(lasts - timedelta(hours=2)) < timedelta(minutes=1), lasts
    me = cp.api("GET", "/api/v1/auth/me").json()
    assert issued["issued_by"] == me["admin_id"] and issued["used_at"] is None

    default = cp.api("POST", path, json={})
    assert default.status_code == 201, default.text
    lasts = (datetime.fromisoformat(default.json()["expires_at"])
             - datetime.fromisoformat(default.json()["issued_at"]))
    assert abs(lasts - timedelta(hours=24)) < timedelta(minutes=1) and default.json()["device_name"] is None
    assert default.json()["challenge"] != issued["challenge"]

    found = cp.api("GET", path)
    assert found.status_code == 200, found.text
    assert DeviceChallengeList().validate(found.json()) == {}
    items = found.json()["items"]
    assert [c["challenge_id"] for c in items] == [default.json()["challenge_id"], issued["challenge_id"]]
    assert all("challenge" not in c and c["status"] == "issued" for c in items)
    assert {k: v for k, v in issued.items() if k != "challenge"} == items[1]
    assert secrets_seen_after(cp, made["endpoint_id"], issued["challenge"], default.json()["challenge"]) == []


BAD_CHALLENGES = {
    # name: (the body, the field the answer names)
    "0 hours": ({"valid_hours": 0}, "valid_hours"),
    "10,000 hours": ({"valid_hours": 10_000}, "valid_hours"),
    "721 hours": ({"valid_hours": 721}, "valid_hours"),
    "hours as text": ({"valid_hours": "24"}, "valid_hours"),
    "a 129-character device name": ({"device_name": "d" * 129}, "device_name"),
    "a 10,000-character device name": ({"device_name": "d" * 10_000}, "device_name"),
    "a control character in the device name": ({"device_name": "printer\x00\x1b[31m"}, "device_name"),
    "a line break in the device name": ({"device_name": "printer\nscanner"}, "device_name"),
    "an unknown field": ({"challenge": "my own secret challenge"}, "challenge"),
}


@pytest.fixture(scope="module")
def scep_endpoint(cp, world):
    return create_endpoint(cp.api, world, type="scep")


@pytest.mark.parametrize("case", BAD_CHALLENGES)
def test_a_bad_challenge_is_400_naming_the_field_and_issues_nothing(cp, world, scep_endpoint, case):
    body, word = BAD_CHALLENGES[case]
    path = f"{ENDPOINTS}/{scep_endpoint['endpoint_id']}/challenges"
    before = (cp.api("GET", path).json(), enrollment_events(cp).count("device_challenge_issued"))
    refused = cp.api("POST", path, json=body)
    assert refused.status_code == 400, refused.text
    assert word in error_of(refused)["details"], error_of(refused)
    assert (cp.api("GET", path).json(), enrollment_events(cp).count("device_challenge_issued")) == before


def test_credentials_and_challenges_outside_the_scope_are_404(cp, world):
    made = create_endpoint(world["actors"]["RAO device A"], world, type="scep")
    endpoint_id = made["endpoint_id"]
    outsiders = (world["actors"]["RAO client A"], world["actors"]["RAO client B"], world["actors"]["RAO ssl A"])
    for actor in outsiders:
        for method, suffix, kwargs in (("POST", "credentials", {}), ("POST", "challenges", {"json": {}}),
                                       ("GET", "challenges", {})):
            answer = actor(method, f"{ENDPOINTS}/{endpoint_id}/{suffix}", **kwargs)
            assert answer.status_code == 404, (method, suffix, answer.text)
            assert error_of(answer)["details"] == {"kind": "device_endpoint", "id": endpoint_id}
    assert cp.api("GET", f"{ENDPOINTS}/{endpoint_id}/challenges").json() == {"items": []}
    assert cp.api("GET", f"{ENDPOINTS}/{endpoint_id}").json()["credential_set_at"] == made["credential_set_at"]
    mine = world["actors"]["RAO device A"]("POST", f"{ENDPOINTS}/{endpoint_id}/challenges", json={"valid_hours": 1})
    assert mine.status_code == 201, mine.text
    for unknown in (str(uuid.uuid4()), "not-an-id"):
        for method, suffix in (("POST", "credentials"), ("GET", "challenges")):
            assert cp.api(method, f"{ENDPOINTS}/{unknown}/{suffix}").status_code == 404


def test_with_an_est_listener_an_est_endpoint_names_its_url_there(device_env):
    """The shared device server (tests/e2e/device_env.py) runs the EST listener: the endpoint's `est_url` is the
    listener's https URL with the endpoint's label, in the create answer, the GET and the list."""
    made = device_env.endpoint("est")
    host = device_env.base_url.split("://", 1)[1].rsplit(":", 1)[0]
    expected = f"https://{host}:{device_env.est_port}/.well-known/est/{made['uri_extension']}/"
    assert made["est_url"] == expected and made["scep_url"] is None
    assert device_env.api("GET", f"{ENDPOINTS}/{made['endpoint_id']}").json()["est_url"] == expected
    page = device_env.api("GET", ENDPOINTS, params={"size": 200}).json()
    assert {e["endpoint_id"]: e["est_url"] for e in page["items"]}[made["endpoint_id"]] == expected
    scep = device_env.endpoint("scep")
    assert scep["scep_url"] == f"{device_env.base_url}/scep/{scep['uri_extension']}" and scep["est_url"] is None


def test_after_a_rotation_only_the_new_scep_password_enrolls(device_env, tmp_path):
    """What the rotation route promises, with Debian's scepclient: the old password stops working at once."""
    from tests.e2e.test_scep import SCEPCLIENT, device_name, scepclient
    if SCEPCLIENT is None:
        pytest.skip("needs Debian's scep (scepclient)")
    made = device_env.endpoint("scep")
    old = made["credentials"]["challenge_password"]
    rotated = device_env.api("POST", f"{ENDPOINTS}/{made['endpoint_id']}/credentials")
    assert rotated.status_code == 200, rotated.text
    new = rotated.json()["credentials"]["challenge_password"]
    refused = scepclient(tmp_path / "old", made["scep_url"], device_name("rotated-old"), challenge=old)
    assert refused.returncode != 0 and "badRequest" in refused.stdout, refused.stdout + refused.stderr
    assert device_env.devices(made["endpoint_id"]) == []
    enrolled = scepclient(tmp_path / "new", made["scep_url"], device_name("rotated-new"), challenge=new)
    assert enrolled.returncode == 0, enrolled.stdout + enrolled.stderr
    [issued] = device_env.devices(made["endpoint_id"])
    assert issued["status"] == "issued" and issued["common_name"].startswith("rotated-new-")
