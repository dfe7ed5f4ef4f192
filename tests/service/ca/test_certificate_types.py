"""Client (S/MIME), code-signing and device certificates signed by the ca's real signing path (judge, lint, sign with
the issuing CA's key from the key store, record): CaService in nameko's worker_factory with a real SQLite event
store and key store, no mocks. Each certificate is checked as a relying party would, and linted again — a client
certificate by pkilint's own S/MIME linter, as `lint_cabf_smime_cert lint --detect` runs it."""
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID
from nameko.testing.services import worker_factory
from pkilint import loader
from pkilint.cabf import smime
from pkilint.pkix import certificate

from contracts.errors import InvalidRequest, PolicyViolation
from services.ca import hierarchy, lint
from services.ca.hierarchy import default_issuing_for
from services.ca.service import CaService, CaTools
from services.runtime.config import load_settings
from services.runtime.nameko_glue import StoreHandle, open_database
from tests import factories

ORG = {"organization": "Example Corp", "organizational_unit": "Platform", "country": "DE", "state": "Berlin",
       "locality": "Berlin"}
PKI = "http://pki.example.com"        # a public host: pkilint's own S/MIME linter refuses links on internal ones


@pytest.fixture
def ca(tmp_path):
    settings = load_settings({}, var_dir=str(tmp_path), public_base_url=PKI)
    store = CaService.store.build_store(settings, "ca")
    tools = CaTools()
    tools.prepare(settings, open_database(settings, "ca"))
    hierarchy.ensure_default_hierarchy(store, tools.keys, settings)
    service = worker_factory(CaService, store=StoreHandle(store, factories.WorkerInfo()), tools=tools,
                             context=factories.WorkerInfo())
    service.event_store = store
    return service


def ask(cert_type, csr, common_name=None, sans=(), emails=(), subject=ORG, term_days=365,
        key_usage=("digital_signature",), eku=()) -> dict:
    return {"request_id": f"{cert_type}:1", "cert_type": cert_type, "csr_pem": csr.decode(),
            "common_name": common_name, "sans": list(sans), "emails": list(emails), "subject": dict(subject),
            "term_days": term_days, "key_usage": list(key_usage), "extended_key_usage": list(eku)}


def issued(ca, request) -> x509.Certificate:
    return x509.load_pem_x509_certificate(ca.issue_certificate(request)["certificate_pem"].encode())


def der(cert) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def pkilint_smime(cert) -> tuple[str, list[str]]:
    """pkilint's own S/MIME linter, as `lint_cabf_smime_cert lint --detect`: the type detected and the ERROR and
    FATAL findings."""
    document = loader.RFC5280CertificateDocumentLoader().load_der_document(der(cert), "issued")
    level, generation = smime.determine_validation_level_and_generation(document)
    validator = certificate.create_pkix_certificate_validator_container(
        smime.create_decoding_validators(), smime.create_subscriber_validators(level, generation))
    return f"{level}-{generation}", [fd.finding.code for result in validator.validate(document.root)
                                     for fd in result.finding_descriptions
                                     if fd.finding.severity.name in ("ERROR", "FATAL")]


def nothing_recorded(ca, request, error, code):
    head = ca.event_store.head()
    with pytest.raises(error) as refused:
        ca.issue_certificate(request)
    assert refused.value.code == code, refused.value.message
    assert ca.event_store.head() == head                       # no certificate_signing: no serial used
    return refused.value


@pytest.mark.parametrize("key_type,key_usage", [("ec-p256", ("digital_signature",)),
                                                ("rsa-2048", ("digital_signature", "key_encipherment"))])
def test_a_client_certificate_is_mailbox_validated_smime_clean_by_pkilint(ca, key_type, key_usage):
    csr = factories.csr(key_type, cn="someone else", sans=(), organization="Other Corp", country="US")
    cert = issued(ca, ask("client", csr, emails=["Alice@Example.com", "a.smith@example.com"], key_usage=key_usage,
                          eku=("email_protection", "client_auth")))
    assert cert.subject.rfc4514_string() == "CN=Alice@example.com"     # neither the CSR's nor the organization's
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.RFC822Name) == ["Alice@example.com", "a.smith@example.com"]
    assert san.get_values_for_type(x509.DNSName) == []
    policies = cert.extensions.get_extension_for_class(x509.CertificatePolicies).value
    assert [p.policy_identifier.dotted_string for p in policies] == ["2.23.140.1.5.1.2"]   # MV multipurpose
    assert list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.EMAIL_PROTECTION, ExtendedKeyUsageOID.CLIENT_AUTH]
    assert pkilint_smime(cert) == ("MAILBOX-MULTIPURPOSE", [])
    assert lint.errors(lint.lint_certificate(der(cert), "smime")) == []


def test_a_client_certificate_for_mail_only_is_strict(ca):
    cert = issued(ca, ask("client", factories.csr("ec-p256", cn=None, sans=()), emails=["bob@example.com"],
                          eku=("email_protection",)))
    assert pkilint_smime(cert) == ("MAILBOX-STRICT", [])


def test_a_client_certificate_with_a_dns_name_is_refused(ca):
    refused = nothing_recorded(ca, ask("client", factories.csr(), sans=("www.example.com",),
                                       emails=["bob@example.com"], eku=("email_protection",)),
                               PolicyViolation, "dns_name_not_allowed")
    assert list(refused.details) == ["sans"]


def test_emails_in_another_type_of_certificate_are_refused(ca):
    nothing_recorded(ca, ask("device", factories.csr(), sans=("www.example.com",), emails=["bob@example.com"],
                             eku=("client_auth",)), PolicyViolation, "emails_not_allowed")


CODE_SIGNING_SUBJECT = {"organization": "Example Corp", "organizational_unit": "Build", "country": "DE",
                        "state": "Bavaria", "locality": "Munich"}


@pytest.mark.parametrize("key_type", ["rsa-3072", "ec-p384"])
def test_a_code_signing_certificate_has_exactly_the_cs_br_extensions(ca, key_type):
    cert = issued(ca, ask("code_signing", factories.csr(key_type, cn="whatever", sans=()),
                          common_name="Example Corp Release Signing", subject=CODE_SIGNING_SUBJECT,
                          eku=("code_signing",), term_days=398))
    assert cert.subject.rfc4514_string() == ("CN=Example Corp Release Signing,O=Example Corp,L=Munich,ST=Bavaria,"
                                             "C=DE")                                    # no OU
    extensions = {ext.oid: ext for ext in cert.extensions}
    assert set(extensions) == {x509.BasicConstraints.oid, x509.KeyUsage.oid, x509.ExtendedKeyUsage.oid,
                               x509.SubjectKeyIdentifier.oid, x509.AuthorityKeyIdentifier.oid,
                               x509.AuthorityInformationAccess.oid, x509.CRLDistributionPoints.oid,
                               x509.CertificatePolicies.oid}                            # no subjectAltName
    usage = extensions[x509.KeyUsage.oid]
    assert usage.critical and usage.value == x509.KeyUsage(
        digital_signature=True, content_commitment=False, key_encipherment=False, data_encipherment=False,
        key_agreement=False, key_cert_sign=False, crl_sign=False, encipher_only=False, decipher_only=False)
    assert list(extensions[x509.ExtendedKeyUsage.oid].value) == [ExtendedKeyUsageOID.CODE_SIGNING]
    assert [p.policy_identifier.dotted_string for p in extensions[x509.CertificatePolicies.oid].value] == [
        "2.23.140.1.4.1"]
    access = {d.access_method: d.access_location.value for d in extensions[x509.AuthorityInformationAccess.oid].value}
    issuer = default_issuing_for("code_signing")          # the code-signing issuing CA (EKU codeSigning)
    assert access == {AuthorityInformationAccessOID.OCSP: f"{PKI}/ocsp",
                      AuthorityInformationAccessOID.CA_ISSUERS: f"{PKI}/ca/{issuer}.crt"}
    [point] = extensions[x509.CRLDistributionPoints.oid].value
    assert [n.value for n in point.full_name] == [f"{PKI}/crl/{issuer}.crl"]
    assert not extensions[x509.BasicConstraints.oid].value.ca
    assert lint.errors(lint.lint_certificate(der(cert), "codesigning")) == []


def test_an_rsa_2048_code_signing_key_is_refused_by_the_ca(ca):
    nothing_recorded(ca, ask("code_signing", factories.csr("rsa-2048", sans=()), common_name="Example Corp",
                             subject=CODE_SIGNING_SUBJECT, eku=("code_signing",)),
                     PolicyViolation, "key_type_not_allowed")


def test_a_code_signing_term_of_461_days_is_refused(ca):
    nothing_recorded(ca, ask("code_signing", factories.csr("ec-p256", sans=()), common_name="Example Corp",
                             subject=CODE_SIGNING_SUBJECT, eku=("code_signing",), term_days=461),
                     PolicyViolation, "term_over_limit")


def test_a_code_signing_request_without_the_organization_or_a_name_is_refused(ca):
    request = ask("code_signing", factories.csr("ec-p256", sans=()), common_name="Example Corp",
                  subject={"country": "DE", "locality": "Munich"}, eku=("code_signing",))
    assert nothing_recorded(ca, request, PolicyViolation, "subject_incomplete").details == {
        "subject": ["organization missing"]}
    nothing_recorded(ca, {**request, "common_name": None, "subject": CODE_SIGNING_SUBJECT}, InvalidRequest,
                     "common_name_required")


def test_a_device_gets_the_organizations_subject_not_its_csrs(ca):
    csr = factories.csr("ec-p256", cn="sensor-7.example.com", sans=("sensor-7.example.com",),
                        organization="Someone Else Ltd", organizational_unit="Rogue", country="US", state="Texas",
                        locality="Austin")
    cert = issued(ca, ask("device", csr, sans=("sensor-7.example.com",), eku=("client_auth",)))
    subject = {attr.oid: attr.value for attr in cert.subject}
    assert subject == {NameOID.COMMON_NAME: "sensor-7.example.com", NameOID.ORGANIZATION_NAME: "Example Corp",
                       NameOID.ORGANIZATIONAL_UNIT_NAME: "Platform", NameOID.COUNTRY_NAME: "DE",
                       NameOID.STATE_OR_PROVINCE_NAME: "Berlin", NameOID.LOCALITY_NAME: "Berlin"}
    assert lint.errors(lint.lint_certificate(der(cert), "rfc5280")) == []
    with pytest.raises(x509.ExtensionNotFound):
        cert.extensions.get_extension_for_class(x509.CertificatePolicies)


def test_a_device_named_by_a_device_name_has_it_in_the_subject_only(ca):
    cert = issued(ca, ask("device", factories.csr("ec-p256", cn=None, sans=()), common_name="Badge reader 2F",
                          eku=("client_auth",)))
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "Badge reader 2F"
    with pytest.raises(x509.ExtensionNotFound):
        cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert lint.errors(lint.lint_certificate(der(cert), "rfc5280")) == []


# ---- Certplane's own servers' certificates (issue 16: the SCEP RA, the EST listener) -------------------------

def test_the_scep_ra_certificate_may_sign_and_be_encrypted_to_and_claims_no_eku(ca):
    answer = ca.issue_service_certificate({"purpose": "scep_ra", "csr_pem": factories.csr("rsa-2048").decode(),
                                           "common_name": "Certplane SCEP RA"})
    cert = x509.load_pem_x509_certificate(answer["certificate_pem"].encode())
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and usage.key_encipherment and not usage.key_cert_sign
    with pytest.raises(x509.ExtensionNotFound):
        cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "Certplane SCEP RA"
    assert len(answer["chain_pem"]) == 2 and answer["serial"]


def test_the_est_listener_certificate_serves_tls_for_its_names_without_a_public_policy(ca):
    answer = ca.issue_service_certificate({"purpose": "tls_server", "csr_pem": factories.csr().decode(),
                                           "common_name": "est.example.com", "dns_names": ["est.example.com",
                                                                                          "localhost"],
                                           "ip_addresses": ["127.0.0.1"], "days": 30})
    cert = x509.load_pem_x509_certificate(answer["certificate_pem"].encode())
    assert cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value == \
        x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH])
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["est.example.com", "localhost"]
    with pytest.raises(x509.ExtensionNotFound):
        cert.extensions.get_extension_for_class(x509.CertificatePolicies)
    assert (cert.not_valid_after_utc - cert.not_valid_before_utc).days <= 31


@pytest.mark.parametrize("payload, field", [
    ({"purpose": "scep_ra", "common_name": "RA"}, "csr_pem"),                         # an EC key for the RA
    ({"purpose": "subscriber", "common_name": "x"}, "purpose"),
    ({"purpose": "tls_server", "common_name": "x", "days": 400}, "days"),
])
def test_a_service_certificate_the_rules_refuse_records_nothing(ca, payload, field):
    head = ca.event_store.head()
    with pytest.raises(InvalidRequest) as refused:
        ca.issue_service_certificate({"csr_pem": factories.csr().decode(), **payload})
    assert field in refused.value.details
    assert ca.event_store.head() == head
