"""The CA is the last word on what it signs (DESIGN §6): `issue_certificate` called directly, as a buggy or
compromised enrollment path would call it, with each forbidden combination — each refused with the code enrollment
uses, nothing recorded, no serial used. And what it does sign under each trust class. CaService runs in nameko's
worker_factory with a real SQLite event store and key store (no mocks)."""
import ipaddress

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from nameko.testing.services import worker_factory

from contracts.errors import InvalidRequest, PolicyViolation
from services.ca import hierarchy
from services.ca.hierarchy import DEFAULT_ISSUING
from services.ca.service import CaService, CaTools
from services.runtime.config import load_settings
from services.runtime.nameko_glue import StoreHandle, open_database
from tests import factories

SUBJECT = {"organization": "Example Corp", "organizational_unit": "Platform", "country": "DE", "state": "Berlin",
           "locality": "Berlin"}


@pytest.fixture
def ca(tmp_path):
    settings = load_settings({}, var_dir=str(tmp_path), public_base_url="http://127.0.0.1:8080")
    store = CaService.store.build_store(settings, "ca")
    tools = CaTools()
    tools.prepare(settings, open_database(settings, "ca"))
    hierarchy.ensure_default_hierarchy(store, tools.keys, settings)
    service = worker_factory(CaService, store=StoreHandle(store, factories.WorkerInfo()), tools=tools,
                             context=factories.WorkerInfo())
    service.event_store = store
    return service


def ask(cert_type="ssl", trust_class="private", csr=None, sans=("host.example.com",), common_name=None,
        term_days=90, key_usage=("digital_signature",), eku=("server_auth",), subject=SUBJECT, **extra) -> dict:
    return {"request_id": "test:1", "cert_type": cert_type, "trust_class": trust_class,
            "csr_pem": (csr or factories.csr()).decode(), "common_name": common_name, "sans": list(sans),
            "subject": dict(subject), "term_days": term_days, "key_usage": list(key_usage),
            "extended_key_usage": list(eku), **extra}


FORBIDDEN = [
    # (what a caller asks, the error class, its code)
    ({"csr": factories.csr("rsa-1024")}, InvalidRequest, "csr_key_weak"),
    ({"csr": factories.csr("ec-secp256k1")}, InvalidRequest, "csr_key_unsupported"),
    ({"csr": factories.csr("ec-p192")}, InvalidRequest, "csr_key_unsupported"),
    ({"cert_type": "code_signing", "csr": factories.csr("rsa-2048"), "sans": (), "eku": ("code_signing",)},
     PolicyViolation, "key_type_not_allowed"),
    ({"term_days": 399}, PolicyViolation, "term_over_limit"),
    ({"trust_class": "public", "term_days": 201}, PolicyViolation, "term_over_br_limit"),
    ({"trust_class": "public", "sans": ("host.example.com", "10.1.2.3")}, PolicyViolation, "ip_address_not_allowed"),
    ({"trust_class": "public", "sans": ("host.corp.internal",)}, PolicyViolation, "internal_name_not_allowed"),
    ({"trust_class": "public", "sans": ("intranet",)}, PolicyViolation, "internal_name_not_allowed"),
    ({"trust_class": "public", "sans": ("a" * 60 + "." + "b" * 40 + ".example.com",)}, PolicyViolation,
     "common_name_required"),
    ({"cert_type": "client", "sans": ("*.example.com",), "eku": ("client_auth",)}, PolicyViolation,
     "wildcard_not_allowed"),
    ({"cert_type": "client", "sans": ("10.1.2.3",), "eku": ("client_auth",)}, PolicyViolation,
     "ip_address_not_allowed"),
    ({"trust_class": "public", "cert_type": "device", "eku": ("client_auth",)}, InvalidRequest,
     "trust_class_not_allowed"),
    ({"eku": ("server_auth", "code_signing")}, PolicyViolation, "extended_key_usage_not_allowed"),
    ({"eku": ("client_auth",)}, PolicyViolation, "extended_key_usage_not_allowed"),
    ({"key_usage": ("digital_signature", "key_encipherment")}, PolicyViolation, "key_usage_not_allowed"),  # EC key
    ({"key_usage": ("digital_signature", "key_cert_sign")}, PolicyViolation, "key_usage_not_allowed"),
    ({"key_usage": ("key_agreement",)}, PolicyViolation, "key_usage_not_allowed"),
    ({"sans": ("under_score.example.com",)}, InvalidRequest, "invalid_domain_name"),
    ({"common_name": "x" * 40 + "." + "y" * 30 + ".example.com"}, InvalidRequest, "common_name_too_long"),
    ({"lint_profile": "rfc5280"}, InvalidRequest, "invalid_request"),            # the caller never picks the lint
]


@pytest.mark.parametrize("request_changes,error,code", FORBIDDEN,
                         ids=[f"{i}-{code}" for i, (_r, _e, code) in enumerate(FORBIDDEN)])
def test_the_ca_refuses_what_no_rule_allows_and_signs_nothing(ca, request_changes, error, code):
    head, certificates = ca.event_store.head(), certificate_count(ca)
    with pytest.raises(error) as refused:
        ca.issue_certificate(ask(**request_changes))
    assert refused.value.code == code, refused.value.message
    assert ca.event_store.head() == head                       # no certificate_signing: no serial used
    assert certificate_count(ca) == certificates


def certificate_count(ca) -> int:
    return ca.event_store.read(lambda conn: conn.exec_driver_sql("SELECT count(*) FROM certificates").scalar())


def _issued(answer: dict) -> x509.Certificate:
    return x509.load_pem_x509_certificate(answer["certificate_pem"].encode())


def test_a_private_certificate_carries_internal_names_ip_addresses_and_the_ou_and_no_cabf_policy(ca):
    answer = ca.issue_certificate(ask(sans=("intranet", "nas.corp.internal", "10.20.30.40", "fd00::7"),
                                      term_days=398))
    cert = _issued(answer)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["intranet", "nas.corp.internal"]
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("10.20.30.40"),
                                                        ipaddress.ip_address("fd00::7")]
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)[0].value == "Platform"
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "intranet"
    with pytest.raises(x509.ExtensionNotFound):
        cert.extensions.get_extension_for_class(x509.CertificatePolicies)
    assert (cert.not_valid_after_utc - cert.not_valid_before_utc).days == 397    # 398 days, both ends counted
    aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    assert aia[0].access_location.value == "http://127.0.0.1:8080/ocsp"        # links on any host


def test_a_private_certificate_whose_names_are_all_long_has_no_cn(ca):
    long_name = "a" * 60 + "." + "b" * 40 + ".example.com"
    cert = _issued(ca.issue_certificate(ask(sans=(long_name,))))
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME) == []
    assert cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value \
        .get_values_for_type(x509.DNSName) == [long_name]


def test_the_ca_drops_the_ou_of_a_public_certificate_whatever_the_caller_sends(ca, tmp_path):
    # the serverauth lint refuses the 127.0.0.1 links of this CA, so the public path is checked as far as the lint
    with pytest.raises(PolicyViolation) as refused:
        ca.issue_certificate(ask(trust_class="public"))
    assert refused.value.code == "lint_failed"
    codes = {f["code"] for f in refused.value.details["findings"]}
    assert codes == {"cabf.internal_domain_name"}                      # the links, not the OU the caller sent
    assert "CERTPLANE_PUBLIC_BASE_URL" in refused.value.message


def test_the_eku_the_type_allows_is_what_the_certificate_gets(ca):
    cert = _issued(ca.issue_certificate(ask(eku=("server_auth", "client_auth"))))
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]


def test_a_revoked_issuing_ca_signs_nothing_more(ca):
    ca.request_ca_revocation(DEFAULT_ISSUING, "admin:first", {"reason": "key_compromise"})
    ca.issue_certificate(ask())                                   # asked, not yet approved: still signs
    ca.approve_ca_revocation(DEFAULT_ISSUING, "admin:second", {})
    head, certificates = ca.event_store.head(), certificate_count(ca)
    with pytest.raises(PolicyViolation) as refused:
        ca.issue_certificate(ask())
    assert refused.value.code == "ca_revoked"
    assert ca.event_store.head() == head and certificate_count(ca) == certificates
