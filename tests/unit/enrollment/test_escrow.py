"""Key escrow: its decisions (certs_domain) and its cryptography (escrow.py)."""
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from contracts.errors import Conflict, Forbidden, InvalidRequest
from services.enrollment import certs_domain as domain
from services.enrollment import escrow
from services.enrollment.certs_events import (CertApplied, CertApproved, CertIssued, CertKeyRecovered,
                                              CertRequested, CertRevoked, EscrowInitialized)
from tests.unit.enrollment.test_certs_rules import CERT

ON = {"enabled": True, "recovery_by_mrao": True, "recovery_by_organization_admins": False}
OFF = {"enabled": False}


def initialized() -> EscrowInitialized:
    return EscrowInitialized("org", "PEM", "ab" * 32, "server", "mrao-1")


def escrowed_cert(*more):
    requested = CertRequested(CERT, "client", "org", None, "p", 365, "eve@example.com", [], ["eve@example.com"],
                              "ec-p256", "server", "CSR", {}, "person", "Eve", "eve@example.com", "mrao-1",
                              "invitation", {}, None, True)
    issued = CertIssued(CERT, "client", "0abc", "ca", "2026-12-02T00:00:00+00:00", "2027-12-02T00:00:00+00:00",
                        "ff" * 32, "PEM", [], None, None)
    return domain.fold([requested, CertApproved(CERT, "client", "mrao-2", None, False),
                        CertApplied(CERT, "client", {}), issued, *more])


def test_encryption_is_initialized_once_and_only_with_key_escrow():
    assert domain.decide_initialize_escrow(domain.Escrow(), initialized(), ON) == [initialized()]
    with pytest.raises(Conflict) as twice:
        domain.decide_initialize_escrow(domain.fold_escrow([initialized()]), initialized(), ON)
    assert twice.value.code == "escrow_initialized"
    with pytest.raises(Conflict) as off:
        domain.decide_initialize_escrow(domain.Escrow(), initialized(), OFF)
    assert off.value.code == "escrow_not_enabled"


def test_an_escrow_organization_issues_nothing_before_its_encryption_is_initialized():
    with pytest.raises(Conflict) as refused:
        domain.check_escrow_ready(ON, domain.Escrow())
    assert refused.value.code == "escrow_not_initialized"
    assert domain.check_escrow_ready(OFF, domain.Escrow()) is None
    assert domain.check_escrow_ready(ON, domain.fold_escrow([initialized()])) == initialized()


def test_recovery_takes_two_administrators_and_revokes_the_certificate():
    state = escrowed_cert()
    asked = domain.decide_request_recovery(state, CERT, "mrao-1", "left")
    state = escrowed_cert(*asked)
    with pytest.raises(Forbidden) as own:
        domain.decide_approve_recovery(state, CERT, "mrao-1")
    assert own.value.code == "own_request"
    with pytest.raises(Conflict):
        domain.decide_recover(state, CERT, "mrao-1", "key_compromise")           # not approved yet
    approved = domain.decide_approve_recovery(state, CERT, "mrao-2")
    state = escrowed_cert(*asked, *approved)
    with pytest.raises(Forbidden):
        domain.decide_recover(state, CERT, "mrao-2", "key_compromise")           # only the asker receives it
    events = domain.decide_recover(state, CERT, "mrao-1", "key_compromise")
    assert events == [CertKeyRecovered(CERT, "client", "mrao-1"),
                      CertRevoked(CERT, "client", "0abc", "key_compromise", "mrao-1")]
    with pytest.raises(Conflict) as done:
        domain.decide_request_recovery(escrowed_cert(*asked, *approved, *events), CERT, "mrao-1", "again")
    assert done.value.code == "recovered"


def test_a_key_that_is_not_escrowed_cannot_be_recovered():
    requested = CertRequested(CERT, "client", "org", None, "p", 365, "x@example.com", [], ["x@example.com"],
                              "ec-p256", "client", "CSR", {}, None, None, None, "a", "api", {}, None)
    with pytest.raises(Conflict) as refused:
        domain.decide_request_recovery(domain.fold([requested]), CERT, "mrao-1", "why")
    assert refused.value.code == "not_escrowed"


def test_an_escrowed_key_opens_only_with_its_master_key():
    master, other = escrow.new_master_key(), escrow.new_master_key()
    key = ec.generate_private_key(ec.SECP256R1())
    sealed = escrow.escrow(key, escrow.public_pem(master), CERT)
    assert escrow.recover(sealed, master, CERT).private_numbers() == key.private_numbers()
    with pytest.raises(Forbidden):
        escrow.recover(sealed, other, CERT)
    with pytest.raises(Forbidden):
        escrow.recover(sealed, master, "another certificate")     # bound to its certificate
    pem = escrow.private_pem(master, "a long passphrase")
    assert escrow.load_master_key(pem, "a long passphrase").private_numbers() == master.private_numbers()
    with pytest.raises(Forbidden):
        escrow.load_master_key(pem, "wrong passphrase!")
    with pytest.raises(InvalidRequest):
        escrow.private_pem(master, "short")


def test_an_administrators_master_public_key_must_be_rsa_3072_or_more():
    small = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(InvalidRequest) as refused:
        escrow.checked_public_key(escrow.public_pem(small))
    assert refused.value.code == "master_key_invalid"
    with pytest.raises(InvalidRequest):
        escrow.checked_public_key("not a key")
