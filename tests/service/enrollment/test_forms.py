"""EnrollmentService's form accounts and device endpoints (forms_service.py) with a real event store on SQLite
(nameko's worker_factory), its real KeptSecrets table and real copies of domains' and orgs' facts (DomainFacts,
OrgSubjects fed the producers' events): the access code only as an argon2id hash outside the events, the lockout
across a restart (a new worker on the same store), the applicant's email against delegated domains, unique URI
extensions."""
import dataclasses
import sqlite3
import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from nameko.testing.services import worker_factory

from contracts.errors import Conflict, Forbidden, InvalidRequest, NotFound, PolicyViolation, Unauthenticated
from services.enrollment.facts import DomainFacts, OrgSubjects
from services.enrollment.service import EnrollmentService
from services.runtime.config import Settings
from services.runtime.events import Envelope
from services.runtime.kept_secrets import KeptSecrets
from services.runtime.nameko_glue import StoreHandle
from tests import factories

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=timezone.utc)
ORG, OTHER_ORG, DEPT = (str(uuid.uuid4()) for _ in range(3))
CODE = "s3cret access code"
ADMIN = "admin-1"
ALL_TYPES = {t: {"all": True} for t in ("ssl", "client", "code_signing", "device")}


class Facts:
    """A follower as the service reads it: a read model in a database, confirmed current."""

    def __init__(self, db, projection):
        self.db, self.projection = db, projection

    @property
    def last_caught_up(self) -> float:
        return time.monotonic()


class Context:
    def __init__(self, settings: Settings):
        self.settings = settings

    def metadata(self) -> dict:
        return {"correlation_id": "test-correlation", "actor": f"admin:{ADMIN}", "causation_id": None}


class World:
    def __init__(self, tmp_path):
        self.settings = Settings(var_dir=str(tmp_path), public_base_url="https://certplane.example")
        self.store = EnrollmentService.store.build_store(self.settings, "enrollment")
        self.now = NOW
        self.store.clock = lambda: self.now
        db = self.store.db
        metadata = sa.MetaData(schema=db.schema)
        self.domain_facts = Facts(db, DomainFacts(metadata))
        self.org_facts = Facts(db, OrgSubjects(metadata))
        db.create_tables(metadata)
        self.codes = KeptSecrets(db, "form_access_codes")
        self.credentials = KeptSecrets(db, "device_endpoint_credentials")
        self.challenges = KeptSecrets(db, "device_challenge_secrets")
        self._position = 0
        self.feed("orgs", "organization_created.v1", organization_id=ORG, name="Acme", country="DE", state="Berlin",
                  city="Berlin")
        self.feed("orgs", "organization_created.v1", organization_id=OTHER_ORG, name="Other", country="DE",
                  state="Berlin", city="Berlin")
        self.feed("orgs", "department_created.v1", department_id=DEPT, organization_id=ORG, name="Sales")
        self.delegate("example.com", ORG, None, ["client", "ssl"])
        self.delegate("sales.example.net", ORG, DEPT, ["client"])
        self.delegate("other.example", OTHER_ORG, None, ["client"])
        self.service = self.worker()
        self.service.ensure_default_profiles()
        self.profiles = {p["cert_type"]: p["profile_id"] for p in self.service.list_profiles()}

    def worker(self):
        """A worker of the service (a new one is what a restart or another replica gives)."""
        service = worker_factory(EnrollmentService, store=StoreHandle(self.store, factories.WorkerInfo()),
                                 context=Context(self.settings), access_codes=self.codes,
                                 endpoint_credentials=self.credentials, device_challenges=self.challenges,
                                 domain_facts=self.domain_facts, org_facts=self.org_facts)
        service.catch_up_domain_facts = lambda: False
        service.catch_up_org_facts = lambda: False
        return service

    def feed(self, source, event_type, **payload):
        self._position += 1
        projection = self.org_facts.projection if source == "orgs" else self.domain_facts.projection
        with self.store.db.writer() as conn, conn.begin():
            projection.apply(conn, Envelope(str(uuid.uuid4()), event_type, source, f"{source}-x", 1,
                                            self._position, NOW, None, None, None, payload))

    def delegate(self, name, org, dept, types, status="approved"):
        domain_id = str(uuid.uuid4())
        self.feed("domains", "domain_created.v1", domain_id=domain_id, name=name, active=True)
        self.feed("domains", "delegation_added.v1", domain_id=domain_id, name=name, delegation_id=str(uuid.uuid4()),
                  organization_id=org, department_id=dept, cert_types=types, status=status, requested_by=ADMIN)

    def account(self, **overrides) -> dict:
        body = {"name": "Sales S/MIME", "cert_type": "client", "organization_id": ORG,
                "profile_ids": [self.profiles["client"]], "csr_generation": ["browser", "provided"],
                "access_code": CODE}
        body.update(overrides)
        return self.service.create_form_account(body, ADMIN)["form_account"]

    def endpoint(self, **overrides) -> dict:
        body = {"name": "Printers", "organization_id": ORG, "profile_ids": [self.profiles["device"]]}
        body.update(overrides)
        return self.service.create_device_endpoint(body, ADMIN)["device_endpoint"]

    def events_text(self) -> str:
        path = self.store.db.engine.url.database
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
            return "\n".join(f"{t} {p} {m}" for t, p, m in conn.execute(
                "SELECT event_type, payload, metadata FROM events ORDER BY position"))


@pytest.fixture
def world(tmp_path):
    return World(tmp_path)


# ---- accounts ---------------------------------------------------------------------------------------------

def test_an_account_keeps_only_an_argon2id_hash_of_its_code_and_no_event_holds_it(world):
    made = world.account()
    assert made["has_access_code"] and made["status"] == "active" and made["cert_type"] == "client"
    assert "access_code" not in made
    kept = world.codes.get(made["form_account_id"])
    assert kept["hash"].startswith("$argon2id$") and CODE not in kept["hash"]
    text = world.events_text()
    assert made["form_account_id"] in text and CODE not in text and kept["hash"] not in text
    assert world.service.get_form_account(made["form_account_id"]) == made


def test_list_is_scoped_per_type_and_paged_with_a_total(world):
    client = world.account()
    in_dept = world.account(department_id=DEPT)
    ssl = world.account(cert_type="ssl", profile_ids=[world.profiles["ssl"]])
    listed = world.service.list_form_accounts(ALL_TYPES, None, 0, 50)
    assert listed["total"] == 3
    only_ssl = world.service.list_form_accounts(ALL_TYPES, "ssl", 0, 50)
    assert [a["form_account_id"] for a in only_ssl["items"]] == [ssl["form_account_id"]]
    rao_client = {"client": {"organizations": [ORG], "departments": []}, "ssl": {"organizations": [],
                                                                                  "departments": []}}
    assert {a["form_account_id"] for a in world.service.list_form_accounts(rao_client, None, 0, 50)["items"]} == \
        {client["form_account_id"], in_dept["form_account_id"]}
    drao = {"client": {"organizations": [], "departments": [DEPT]}}
    assert [a["form_account_id"] for a in world.service.list_form_accounts(drao, None, 0, 50)["items"]] == \
        [in_dept["form_account_id"]]
    page = world.service.list_form_accounts(ALL_TYPES, None, 1, 1)
    assert page["total"] == 3 and len(page["items"]) == 1


def test_a_profile_of_another_type_or_an_unknown_one_is_422(world):
    for profiles, code in (([world.profiles["client"], world.profiles["ssl"]], "profile_not_of_type"),
                           ([str(uuid.uuid4())], "profile_unknown")):
        with pytest.raises(PolicyViolation) as refused:
            world.account(profile_ids=profiles)
        assert refused.value.code == code
    assert world.service.list_form_accounts(ALL_TYPES, None, 0, 50)["total"] == 0


def test_an_unknown_organization_or_a_department_of_another_is_404(world):
    with pytest.raises(NotFound):
        world.account(organization_id=str(uuid.uuid4()))
    with pytest.raises(NotFound):
        world.account(organization_id=OTHER_ORG, department_id=DEPT)


@pytest.mark.parametrize("code", ["bad\x00code!!", "tab\tcode!!", "x" * 10_000, "short"])
def test_a_bad_code_is_400_and_creates_nothing(world, code):
    with pytest.raises(InvalidRequest) as refused:
        world.account(access_code=code)
    assert "access_code" in refused.value.details
    assert world.service.list_form_accounts(ALL_TYPES, None, 0, 50)["total"] == 0


def test_an_empty_pkcs12_password_only_for_client(world):
    assert world.account(allow_empty_pkcs12_password=True)["allow_empty_pkcs12_password"]
    with pytest.raises(InvalidRequest) as refused:
        world.account(cert_type="device", profile_ids=[world.profiles["device"]], allow_empty_pkcs12_password=True)
    assert refused.value.code == "pkcs12_option_not_client"


def test_an_update_changes_settings_and_the_code_but_never_the_place_or_type(world):
    made = world.account()
    account_id = made["form_account_id"]
    old_hash = world.codes.get(account_id)["hash"]
    changed = world.service.update_form_account(account_id, {"name": "Renamed", "auto_approve": True,
                                                             "access_code": "a brand new code"}, ADMIN)
    changed = changed["form_account"]
    assert changed["name"] == "Renamed" and changed["auto_approve"] and changed["has_access_code"]
    assert world.codes.get(account_id)["hash"] != old_hash
    assert "a brand new code" not in world.events_text()
    for fixed in ({"organization_id": OTHER_ORG}, {"cert_type": "ssl"}, {"department_id": DEPT}):
        with pytest.raises(InvalidRequest):
            world.service.update_form_account(account_id, fixed, ADMIN)
    with pytest.raises(PolicyViolation):
        world.service.update_form_account(account_id, {"profile_ids": [world.profiles["ssl"]]}, ADMIN)


def test_delete_forgets_the_code_and_the_account(world):
    account_id = world.account()["form_account_id"]
    world.service.delete_form_account(account_id, ADMIN)
    assert world.codes.get(account_id) is None
    with pytest.raises(NotFound):
        world.service.get_form_account(account_id)
    with pytest.raises(NotFound):
        world.service.authorize_applicant(account_id, CODE, "pat@example.com")
    assert world.service.list_form_accounts(ALL_TYPES, None, 0, 50)["total"] == 0


# ---- authorizing an applicant -------------------------------------------------------------------------------

def test_the_right_code_and_a_delegated_email_open_the_account(world):
    made = world.account()
    answer = world.service.authorize_applicant(made["form_account_id"], CODE, "Pat@Example.com")
    assert answer["form_account"]["form_account_id"] == made["form_account_id"]
    assert world.service.authorize_applicant(made["form_account_id"], CODE, "pat@mail.example.com")


def test_an_email_outside_the_organizations_client_domains_is_422(world):
    made = world.account()
    for email in ("pat@other.example", "pat@nowhere.invalid", "pat@sales.example.net"):
        with pytest.raises(PolicyViolation) as refused:
            world.service.authorize_applicant(made["form_account_id"], CODE, email)
        assert refused.value.code == "email_not_delegated" and "email" in refused.value.details
    in_dept = world.account(department_id=DEPT)
    assert world.service.authorize_applicant(in_dept["form_account_id"], CODE, "pat@sales.example.net")
    assert world.service.authorize_applicant(in_dept["form_account_id"], CODE, "pat@example.com")  # the org's


def test_an_email_delegated_only_for_another_type_is_422(world):
    world.delegate("tls-only.example.org", ORG, None, ["ssl"])
    made = world.account()
    with pytest.raises(PolicyViolation):
        world.service.authorize_applicant(made["form_account_id"], CODE, "pat@tls-only.example.org")


def test_five_wrong_codes_lock_the_account_even_for_the_right_code_and_across_a_restart(world):
    account_id = world.account()["form_account_id"]
    for failures in range(1, 6):
        with pytest.raises(Forbidden) as refused:
            world.service.authorize_applicant(account_id, "not the code", "pat@example.com")
        assert refused.value.code == "access_code_wrong"
        assert refused.value.details["consecutive_failures"] == failures
    assert refused.value.details["locked_until"] == (NOW + timedelta(seconds=900)).isoformat()
    restarted = world.worker()                       # the count is in the events: a new worker sees it
    for worker in (world.service, restarted):
        with pytest.raises(Unauthenticated) as locked:
            worker.authorize_applicant(account_id, CODE, "pat@example.com")
        assert locked.value.code == "account_locked" and "locked for a while" in locked.value.message
    assert restarted.get_form_account(account_id)["locked_until"] == (NOW + timedelta(seconds=900)).isoformat()
    before = world.store.head()
    with pytest.raises(Unauthenticated):
        restarted.authorize_applicant(account_id, "not the code", "pat@example.com")
    assert world.store.head() == before              # attempts while locked record nothing
    world.now = NOW + timedelta(seconds=901)
    assert restarted.authorize_applicant(account_id, CODE, "pat@example.com")
    assert restarted.get_form_account(account_id)["locked_until"] is None
    with pytest.raises(Forbidden) as again:           # the count started again
        restarted.authorize_applicant(account_id, "not the code", "pat@example.com")
    assert again.value.details["consecutive_failures"] == 1
    assert "not the code" not in world.events_text() and CODE not in world.events_text()


def test_a_success_resets_the_count(world):
    account_id = world.account()["form_account_id"]
    for _ in range(4):
        with pytest.raises(Forbidden):
            world.service.authorize_applicant(account_id, "not the code", "pat@example.com")
    world.service.authorize_applicant(account_id, CODE, "pat@example.com")
    with pytest.raises(Forbidden) as refused:
        world.service.authorize_applicant(account_id, "not the code", "pat@example.com")
    assert refused.value.details["consecutive_failures"] == 1 and "locked_until" not in refused.value.details


@pytest.mark.parametrize("code", ["bad\x00code!!", "line\nbreak!!", "x" * 10_000])
def test_a_malformed_code_is_400_and_counts_no_failure(world, code):
    account_id = world.account()["form_account_id"]
    before = world.store.head()
    with pytest.raises(InvalidRequest):
        world.service.authorize_applicant(account_id, code, "pat@example.com")
    assert world.store.head() == before
    with pytest.raises(InvalidRequest):
        world.service.authorize_applicant(account_id, CODE, "not an email")


def test_a_disabled_account_is_403_and_an_unknown_one_404(world):
    account_id = world.account()["form_account_id"]
    assert world.service.disable_form_account(account_id, ADMIN)["form_account"]["status"] == "disabled"
    with pytest.raises(Forbidden) as refused:
        world.service.authorize_applicant(account_id, CODE, "pat@example.com")
    assert refused.value.code == "form_account_disabled"
    for unknown in (str(uuid.uuid4()), "not-an-id"):
        with pytest.raises(NotFound):
            world.service.authorize_applicant(unknown, CODE, "pat@example.com")


# ---- device endpoints ---------------------------------------------------------------------------------------

def test_an_endpoint_gets_a_generated_extension_and_its_form_url(world):
    made = world.endpoint()
    assert len(made["uri_extension"]) == 16 and made["uri_extension"].isalnum()
    assert made["uri_extension"] == made["uri_extension"].lower()
    assert made["form_url"] == f"https://certplane.example/forms/device/{made['uri_extension']}"
    assert made["type"] == "web_form" and made["status"] == "active"
    other = world.endpoint(generate=True)
    assert other["uri_extension"] != made["uri_extension"]
    found = world.service.device_endpoint_by_uri(made["uri_extension"])["device_endpoint"]
    assert found["endpoint_id"] == made["endpoint_id"]


def test_a_taken_extension_is_409_until_its_endpoint_is_deleted(world):
    first = world.endpoint(uri_extension="printers")
    with pytest.raises(Conflict) as taken:
        world.endpoint(uri_extension="printers", organization_id=OTHER_ORG)
    assert taken.value.code == "uri_extension_taken"
    assert world.service.list_device_endpoints({"all": True}, 0, 50)["total"] == 1
    world.service.delete_device_endpoint(first["endpoint_id"], ADMIN)
    with pytest.raises(NotFound):
        world.service.device_endpoint_by_uri("printers")
    assert world.endpoint(uri_extension="printers")["uri_extension"] == "printers"


def test_an_endpoint_takes_device_profiles_and_help_text_up_to_2048(world):
    with pytest.raises(PolicyViolation) as refused:
        world.endpoint(profile_ids=[world.profiles["ssl"]])
    assert refused.value.code == "profile_not_of_type"
    with pytest.raises(InvalidRequest) as long:
        world.endpoint(help_text="x" * 2049)
    assert "help_text" in long.value.details
    made = world.endpoint(help_text="x" * 2048, help_link_text="Need help?")
    changed = world.service.update_device_endpoint(made["endpoint_id"], {"name": "Scanners",
                                                                         "help_text": "Ask IT"}, ADMIN)
    assert changed["device_endpoint"]["name"] == "Scanners" and changed["device_endpoint"]["help_text"] == "Ask IT"
    with pytest.raises(InvalidRequest):
        world.service.update_device_endpoint(made["endpoint_id"], {"uri_extension": "other"}, ADMIN)
    assert world.service.list_device_endpoints({"organizations": [OTHER_ORG], "departments": []}, 0, 50) == \
        {"items": [], "total": 0}


def test_a_disabled_endpoint_is_refused_by_uri_and_a_malformed_uri_is_404(world):
    made = world.endpoint(uri_extension="scanners")
    world.service.update_device_endpoint(made["endpoint_id"], {"status": "disabled"}, ADMIN)
    with pytest.raises(Forbidden) as refused:
        world.service.device_endpoint_by_uri("scanners")
    assert refused.value.code == "device_endpoint_disabled"
    for garbage in ("../etc", "UPPER", "x" * 500):
        with pytest.raises(NotFound):
            world.service.device_endpoint_by_uri(garbage)


# ---- scep and est endpoints: credentials and one-time challenges -----------------------------------------------

def protocol_endpoint(world, kind="scep", **overrides):
    body = {"name": f"{kind} fleet", "type": kind, "organization_id": ORG, "profile_ids": [world.profiles["device"]]}
    body.update(overrides)
    return world.service.create_device_endpoint(body, ADMIN)


def test_an_scep_endpoint_answers_its_challenge_password_once_and_keeps_only_a_hash(world):
    made = protocol_endpoint(world)
    endpoint, password = made["device_endpoint"], made["credentials"]["challenge_password"]
    assert len(password) == 24 and endpoint["credential_set_at"]
    assert endpoint["scep_url"] == f"https://certplane.example/scep/{endpoint['uri_extension']}"
    again = world.service.get_device_endpoint(endpoint["endpoint_id"])
    assert "credentials" not in again and password not in repr(again)
    assert password not in world.events_text()
    assert world.service._check_device_secret(endpoint, password, "scep")["via"] == "endpoint"
    with pytest.raises(Unauthenticated) as wrong:
        world.service._check_device_secret(endpoint, password + "x", "scep")
    assert wrong.value.code == "wrong_credentials"


def test_an_est_endpoint_has_a_basic_username_and_password_and_no_url_without_the_listener(world):
    made = protocol_endpoint(world, "est", uri_extension="iot-fleet")
    assert made["credentials"]["username"] == "iot-fleet" and len(made["credentials"]["password"]) == 24
    assert made["device_endpoint"]["est_url"] is None                   # est_port is not set here
    world.service.context.settings = dataclasses.replace(world.settings, est_port=8443)
    assert world.service.get_device_endpoint(made["device_endpoint"]["endpoint_id"])["est_url"] == \
        "https://certplane.example:8443/.well-known/est/iot-fleet/"


def test_rotating_the_credential_stops_the_old_one_and_a_web_form_has_none(world):
    made = protocol_endpoint(world)
    endpoint, old = made["device_endpoint"], made["credentials"]["challenge_password"]
    new = world.service.rotate_device_endpoint_credential(endpoint["endpoint_id"], ADMIN)["credentials"]
    assert new["challenge_password"] != old
    with pytest.raises(Unauthenticated):
        world.service._check_device_secret(endpoint, old, "scep")
    assert world.service._check_device_secret(endpoint, new["challenge_password"], "scep")["via"] == "endpoint"
    form = world.endpoint()
    assert "credentials" not in world.service.create_device_endpoint(
        {"name": "Form", "organization_id": ORG, "profile_ids": [world.profiles["device"]]}, ADMIN)
    with pytest.raises(Conflict) as refused:
        world.service.rotate_device_endpoint_credential(form["endpoint_id"], ADMIN)
    assert refused.value.code == "no_credential"


def test_a_one_time_challenge_works_once_for_its_own_endpoint_until_it_expires(world):
    endpoint = protocol_endpoint(world)["device_endpoint"]
    other = protocol_endpoint(world)["device_endpoint"]
    issued = world.service.issue_device_challenge(endpoint["endpoint_id"], {"device_name": "printer-7"}, ADMIN)
    assert issued["status"] == "issued" and issued["device_name"] == "printer-7" and len(issued["challenge"]) == 24
    assert issued["challenge"] not in world.events_text()
    with pytest.raises(Unauthenticated):
        world.service._check_device_secret(other, issued["challenge"], "scep")      # another endpoint's
    used = world.service._check_device_secret(endpoint, issued["challenge"], "scep", cert_id="c-1")
    assert used == {"via": "challenge", "challenge_id": issued["challenge_id"]}
    with pytest.raises(Unauthenticated) as twice:
        world.service._check_device_secret(endpoint, issued["challenge"], "scep")
    assert "used" in twice.value.message or "not" in twice.value.message
    late = world.service.issue_device_challenge(endpoint["endpoint_id"], {"valid_hours": 1}, ADMIN)
    world.now = NOW + timedelta(hours=2)
    with pytest.raises(Unauthenticated) as expired:
        world.service._check_device_secret(endpoint, late["challenge"], "scep")
    assert "expired" in expired.value.message
    listed = {c["challenge_id"]: c for c in world.service.list_device_challenges(endpoint["endpoint_id"])["items"]}
    assert listed[issued["challenge_id"]]["status"] == "used" and listed[issued["challenge_id"]]["cert_id"] == "c-1"
    assert listed[late["challenge_id"]]["status"] == "expired"
    assert all("challenge" not in c for c in listed.values())


@pytest.mark.parametrize("payload", [{"valid_hours": 0}, {"valid_hours": 721}, {"device_name": "x" * 129},
                                     {"device_name": "a\nb"}, {"secret": "mine"}])
def test_a_bad_challenge_request_is_400_and_issues_nothing(world, payload):
    endpoint = protocol_endpoint(world)["device_endpoint"]
    with pytest.raises(InvalidRequest):
        world.service.issue_device_challenge(endpoint["endpoint_id"], payload, ADMIN)
    assert world.service.list_device_challenges(endpoint["endpoint_id"])["items"] == []


def test_a_web_form_endpoint_takes_no_challenges(world):
    form = world.endpoint()
    with pytest.raises(Conflict) as refused:
        world.service.issue_device_challenge(form["endpoint_id"], {}, ADMIN)
    assert refused.value.code == "no_credential"
