"""CaService's authorities with a real event store and key store on SQLite (nameko's worker_factory): the root's
ARL, OCSP for the issuing CAs' own certificates, the dual-controlled revocation of an issuing CA, and reissuing a
CA's certificate for the same key."""
import base64
import datetime as dt
import uuid

import pytest
import sqlalchemy as sa
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from nameko.testing.services import worker_factory

from contracts.errors import Conflict, Forbidden, InvalidRequest, NotFound, PolicyViolation
from services.ca import domain, hierarchy, lint
from services.ca.hierarchy import DEFAULT_ISSUING, DEFAULT_ROOT
from services.ca.projections import CaView
from services.ca.service import CaService, CaTools
from services.runtime.config import load_settings
from services.runtime.db import make_database
from services.runtime.nameko_glue import StoreHandle
from services.runtime.store import EventStore
from tests import factories
from tests.support import pg_database

MRAO_1, MRAO_2 = "0d000000-0000-4000-8000-00000000a001", "0d000000-0000-4000-8000-00000000a002"
DER = serialization.Encoding.DER


def _service(tmp_path, base_url: str, db=None):
    """CaService on the ca's store in `db` (default: SQLite under tmp_path), its key store's KEK in tmp_path."""
    settings = load_settings({}, var_dir=str(tmp_path), public_base_url=base_url)
    if db is None:
        store = CaService.store.build_store(settings, "ca")
    else:
        store = EventStore(db, "ca", [CaView])
        store.create_schema()
    tools = CaTools()
    tools.prepare(settings, store.db)
    return worker_factory(CaService, store=StoreHandle(store, factories.WorkerInfo()), tools=tools), store


@pytest.fixture(scope="module")
def pg_url():
    with pg_database() as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def started(request, tmp_path):
    """A ca service after its first maintain(): the default hierarchy, and a CRL for each CA."""
    db = None
    if request.param == "postgres":
        db = make_database(request.getfixturevalue("pg_url"), f"ca_{uuid.uuid4().hex[:10]}")
    ca, store = _service(tmp_path, "http://pki.example.com", db)
    ca.maintain()
    yield ca, store
    store.db.dispose()


def crl_of(ca, ca_id: str) -> x509.CertificateRevocationList:
    return x509.load_der_x509_crl(base64.b64decode(ca.get_crl(ca_id)))


def cert_of(pem: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem.encode())


def ocsp_of(ca, cert: x509.Certificate, issuer: x509.Certificate) -> ocsp.OCSPResponse:
    request = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA1()).build().public_bytes(DER)
    answer = ocsp.load_der_ocsp_response(base64.b64decode(ca.ocsp(base64.b64encode(request).decode())))
    assert answer.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
    issuer.public_key().verify(answer.signature, answer.tbs_response_bytes, ec.ECDSA(answer.signature_hash_algorithm))
    return answer


def revoke_issuing(ca, ca_id: str = DEFAULT_ISSUING, reason: str = "ca_compromise") -> dict:
    ca.request_ca_revocation(ca_id, MRAO_1, {"reason": reason})
    return ca.approve_ca_revocation(ca_id, MRAO_2, {})["ca"]


# ---- the root's ARL and OCSP for CA certificates ------------------------------------------------------------
def test_the_root_publishes_an_arl_signed_by_its_key_at_the_first_start(started):
    ca, _store = started
    root = cert_of(ca.get_ca(DEFAULT_ROOT)["certificate_pem"])

    arl = crl_of(ca, DEFAULT_ROOT)

    assert arl.issuer == root.subject and arl.is_signature_valid(root.public_key())
    assert len(arl) == 0
    assert arl.next_update_utc - arl.last_update_utc == domain.ARL_VALIDITY
    assert lint.errors(lint.lint_crl(arl.public_bytes(DER), "arl-br")) == []
    assert crl_of(ca, DEFAULT_ISSUING).next_update_utc - crl_of(ca, DEFAULT_ISSUING).last_update_utc == \
        dt.timedelta(days=7)


def test_the_root_answers_ocsp_for_the_issuing_cas_certificate(started):
    ca, _store = started
    root, issuing = (cert_of(ca.get_ca(i)["certificate_pem"]) for i in (DEFAULT_ROOT, DEFAULT_ISSUING))

    answer = ocsp_of(ca, issuing, root)

    assert answer.certificate_status == ocsp.OCSPCertStatus.GOOD and answer.serial_number == issuing.serial_number


# ---- revoking an issuing CA: two MRAOs ------------------------------------------------------------------------
def test_a_revocation_waits_for_a_second_mrao_and_then_revokes_the_ca_everywhere(started):
    ca, store = started
    root, issuing = (cert_of(ca.get_ca(i)["certificate_pem"]) for i in (DEFAULT_ROOT, DEFAULT_ISSUING))

    requested = ca.request_ca_revocation(DEFAULT_ISSUING, MRAO_1, {"reason": "ca_compromise"})["ca"]
    assert requested["status"] == "active"
    assert requested["revocation"]["status"] == "requested" and requested["revocation"]["requested_by"] == MRAO_1
    assert ocsp_of(ca, issuing, root).certificate_status == ocsp.OCSPCertStatus.GOOD    # nothing revoked yet
    domain.check_can_issue(ca._ca(DEFAULT_ISSUING))

    head = store.head()
    with pytest.raises(Forbidden) as own:
        ca.approve_ca_revocation(DEFAULT_ISSUING, MRAO_1, {})
    assert own.value.code == "own_request" and store.head() == head

    revoked = ca.approve_ca_revocation(DEFAULT_ISSUING, MRAO_2, {"message": "key leaked"})["ca"]

    assert revoked["status"] == "revoked"
    assert revoked["revocation"] | {"requested_at": None, "revoked_at": None} == {
        "status": "revoked", "reason": "ca_compromise", "requested_by": MRAO_1, "approved_by": MRAO_2,
        "requested_at": None, "revoked_at": None}
    arl = crl_of(ca, DEFAULT_ROOT)                               # published by the approval itself
    entry = arl.get_revoked_certificate_by_serial_number(issuing.serial_number)
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason == x509.ReasonFlags.ca_compromise
    assert lint.errors(lint.lint_crl(arl.public_bytes(DER), "arl-br")) == []
    answer = ocsp_of(ca, issuing, root)
    assert answer.certificate_status == ocsp.OCSPCertStatus.REVOKED
    assert answer.revocation_reason == x509.ReasonFlags.ca_compromise
    with pytest.raises(PolicyViolation) as refused:
        domain.check_can_issue(ca._ca(DEFAULT_ISSUING))
    assert refused.value.code == "ca_revoked"


def test_racing_or_repeated_approvals_revoke_once(started):
    ca, store = started
    revoke_issuing(ca)
    head = store.head()
    with pytest.raises(Conflict) as again:
        ca.approve_ca_revocation(DEFAULT_ISSUING, MRAO_2, {})
    assert again.value.code == "already_revoked" and store.head() == head


def test_a_revoked_ca_keeps_publishing_its_crl_and_gets_no_new_certificate(started, monkeypatch):
    ca, store = started
    revoke_issuing(ca)
    before = crl_of(ca, DEFAULT_ISSUING)
    later = store.clock() + dt.timedelta(days=2)
    monkeypatch.setattr(store, "clock", lambda: later)

    ca.maintain()

    after = crl_of(ca, DEFAULT_ISSUING)
    assert after.last_update_utc > before.last_update_utc
    with pytest.raises(Conflict) as refused:
        ca.reissue_ca(DEFAULT_ISSUING)
    assert refused.value.code == "ca_revoked"


def test_a_rejection_ends_the_request_and_another_may_follow(started):
    ca, _store = started
    ca.request_ca_revocation(DEFAULT_ISSUING, MRAO_1, {"reason": "superseded"})

    rejected = ca.reject_ca_revocation(DEFAULT_ISSUING, MRAO_2, {"message": "not yet"})["ca"]

    assert rejected["revocation"] is None and rejected["status"] == "active"
    with pytest.raises(Conflict) as nothing:
        ca.approve_ca_revocation(DEFAULT_ISSUING, MRAO_2, {})
    assert nothing.value.code == "no_revocation_requested"
    again = ca.request_ca_revocation(DEFAULT_ISSUING, MRAO_2, {"reason": "cessation_of_operation"})["ca"]
    assert again["revocation"]["requested_by"] == MRAO_2


@pytest.mark.parametrize("ca_id, payload, error, code", [
    (DEFAULT_ROOT, {"reason": "ca_compromise"}, PolicyViolation, "root_not_revocable"),
    ("5c0a0000-0000-4000-8000-00000000dead", {"reason": "ca_compromise"}, NotFound, "not_found"),
    ("not-a-uuid", {"reason": "ca_compromise"}, NotFound, "not_found"),
    (DEFAULT_ISSUING, {"reason": "certificate_hold"}, InvalidRequest, "invalid_request"),
    (DEFAULT_ISSUING, {"reason": "because"}, InvalidRequest, "invalid_request"),
    (DEFAULT_ISSUING, {}, InvalidRequest, "invalid_request"),
    (DEFAULT_ISSUING, {"reason": "ca_compromise", "by": "me"}, InvalidRequest, "invalid_request"),
])
def test_bad_revocation_requests_are_refused_and_record_nothing(started, ca_id, payload, error, code):
    ca, store = started
    head = store.head()
    with pytest.raises(error) as refused:
        ca.request_ca_revocation(ca_id, MRAO_1, payload)
    assert refused.value.code == code and store.head() == head


def test_a_second_request_while_one_waits_is_a_conflict(started):
    ca, store = started
    ca.request_ca_revocation(DEFAULT_ISSUING, MRAO_1, {"reason": "superseded"})
    head = store.head()
    with pytest.raises(Conflict) as pending:
        ca.request_ca_revocation(DEFAULT_ISSUING, MRAO_2, {"reason": "ca_compromise"})
    assert pending.value.code == "revocation_pending" and store.head() == head


# ---- reissue ----------------------------------------------------------------------------------------------------
def test_reissue_gives_the_same_key_a_certificate_with_the_new_links_and_keeps_the_old_one(tmp_path):
    ca, store = _service(tmp_path, "http://127.0.0.1:8000")
    ca.maintain()
    old = ca.get_ca(DEFAULT_ISSUING)
    differing = {f["ca_id"]: f["certificate_base_url"]
                 for f in hierarchy.links_differing(ca._cas(), "http://pki.example.com")}
    assert differing[DEFAULT_ISSUING] == "http://127.0.0.1:8000"
    ca.tools.settings = load_settings({}, var_dir=str(tmp_path), public_base_url="http://pki.example.com")

    new = ca.reissue_ca(DEFAULT_ISSUING)["ca"]

    old_cert, new_cert = cert_of(old["certificate_pem"]), cert_of(new["certificate_pem"])
    root = cert_of(ca.get_ca(DEFAULT_ROOT)["certificate_pem"])
    assert new["serial"] != old["serial"] and new_cert.public_key() == old_cert.public_key()
    assert new_cert.subject == old_cert.subject
    new_cert.verify_directly_issued_by(root)
    links = hierarchy.certificate_links(new_cert)
    assert (links.crl_url, links.ocsp_url, links.ca_issuers_url) == (
        f"http://pki.example.com/crl/{DEFAULT_ROOT}.crl", "http://pki.example.com/ocsp",
        f"http://pki.example.com/ca/{DEFAULT_ROOT}.crt")
    assert DEFAULT_ISSUING not in {f["ca_id"] for f in hierarchy.links_differing(ca._cas(), "http://pki.example.com")}
    assert [(c["serial"], c["current"]) for c in new["certificates"]] == [(old["serial"], False),
                                                                          (new["serial"], True)]
    assert ca.chain(DEFAULT_ISSUING)[0] == new["certificate_pem"]
    assert ca.ca_certificate(DEFAULT_ISSUING, old["serial"]) == old["certificate_pem"]
    assert ca.ca_certificate(DEFAULT_ISSUING) == new["certificate_pem"]
    with pytest.raises(NotFound):
        ca.ca_certificate(DEFAULT_ISSUING, "abcdef")
    assert ocsp_of(ca, new_cert, root).certificate_status == ocsp.OCSPCertStatus.GOOD
    [event] = [e for e in store.read_events(0, 100) if e.event_type == "ca_certificate_reissued.v1"]
    assert event.stream_id == f"ca-{DEFAULT_ISSUING}" and event.payload["previous_serial"] == old["serial"]

    revoke_issuing(ca)                          # every certificate the key has had goes into the ARL
    arl = crl_of(ca, DEFAULT_ROOT)
    assert {r.serial_number for r in arl} == {old_cert.serial_number, new_cert.serial_number}
    assert ocsp_of(ca, old_cert, root).certificate_status == ocsp.OCSPCertStatus.REVOKED


def test_a_reissued_root_is_self_signed_with_the_same_key_and_its_issuing_ca_still_chains(started):
    ca, _store = started
    old = ca.get_ca(DEFAULT_ROOT)

    new = ca.reissue_ca(DEFAULT_ROOT)["ca"]

    old_root, new_root = cert_of(old["certificate_pem"]), cert_of(new["certificate_pem"])
    issuing = cert_of(ca.get_ca(DEFAULT_ISSUING)["certificate_pem"])
    assert new_root.serial_number != old_root.serial_number and new_root.public_key() == old_root.public_key()
    new_root.verify_directly_issued_by(new_root)
    issuing.verify_directly_issued_by(new_root)
    assert ca.chain(DEFAULT_ISSUING)[1] == new["certificate_pem"]
    assert crl_of(ca, DEFAULT_ROOT).is_signature_valid(new_root.public_key())


def test_reissuing_an_unknown_ca_is_not_found(started):
    ca, store = started
    head = store.head()
    with pytest.raises(NotFound):
        ca.reissue_ca("5c0a0000-0000-4000-8000-00000000dead")
    assert store.head() == head


# ---- a database made before these tables ------------------------------------------------------------------
def test_cas_made_before_the_new_tables_get_their_rows_at_the_next_start(tmp_path):
    ca, store = _service(tmp_path, "http://pki.example.com")
    ca.maintain()
    view = store.projection(CaView)
    with store.db.writer() as conn, conn.begin():        # as an older version left it
        conn.execute(view.ca_states.delete())
        conn.execute(view.ca_certificates.delete())
        conn.execute(view.certificates.delete())
    issuing = cert_of(ca.get_ca(DEFAULT_ISSUING)["certificate_pem"])
    root = cert_of(ca.get_ca(DEFAULT_ROOT)["certificate_pem"])

    restarted, _ = _service(tmp_path, "http://pki.example.com")
    restarted.maintain()

    assert store.read(lambda c: c.execute(sa.select(sa.func.count()).select_from(view.ca_states)).scalar()) == 4
    assert ocsp_of(restarted, issuing, root).certificate_status == ocsp.OCSPCertStatus.GOOD
    assert [c["current"] for c in restarted.get_ca(DEFAULT_ISSUING)["certificates"]] == [True]
    revoke_issuing(restarted)
    assert crl_of(restarted, DEFAULT_ROOT).get_revoked_certificate_by_serial_number(issuing.serial_number)
