"""Client (S/MIME), code-signing and device certificates in the CA's pure parts: what issuance.judge makes of a
request per type (names, emails, subject, policies, lint profile), what x509build builds from it, and what the
smime and codesigning lint profiles find. Fixed `now`; no service, no store."""
import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pkilint import loader
from pkilint.cabf import smime
from pkilint.pkix import certificate

from contracts.errors import InvalidRequest, PolicyViolation
from services.ca import issuance, lint, x509build
from tests import factories

DER = serialization.Encoding.DER
NOW = dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc)
ORG = {"organization": "Example Corp", "organizational_unit": "Platform", "country": "DE", "locality": "Berlin",
       "state": None}


def values(cert_type, common_name=None, sans=(), emails=(), subject=None, eku=("email_protection", "client_auth"),
           key_usage=("digital_signature",), term_days=365) -> dict:
    return {"cert_type": cert_type, "trust_class": "private", "common_name": common_name, "sans": list(sans),
            "emails": list(emails), "subject": dict(ORG if subject is None else subject), "term_days": term_days,
            "key_usage": list(key_usage), "extended_key_usage": list(eku)}


@pytest.fixture(scope="module")
def ca():
    return factories.ca_chain("ec-p256")


def built(judged, key, ca, days=365) -> bytes:
    """The leaf the ca service would build for `judged` (as CaService._spec does), signed by the issuing CA."""
    subject = judged.subject
    spec = x509build.LeafSpec(
        public_key=key.public_key(), serial=x509build.new_serial(), not_before=ca.now,
        not_after=x509build.validity_end(ca.now, days), sans=judged.sans(), common_name=judged.names.common_name,
        organization=subject.get("organization"), organizational_unit=subject.get("organizational_unit"),
        country=subject.get("country"), state=subject.get("state"), locality=subject.get("locality"),
        key_usage=set(judged.key_usage), extended_key_usage=list(judged.extended_key_usage), urls=ca.leaf_urls,
        certificate_policies=judged.certificate_policies(), common_name_is_a_san=judged.common_name_is_a_san())
    return x509build.build_leaf(spec, ca.issuing, ca.issuing_key).public_bytes(DER)


def pkilint_smime(der: bytes) -> tuple[str, list[str]]:
    """pkilint's own S/MIME linter, as `lint_cabf_smime_cert lint --detect` runs it: the type detected, and the
    ERROR and FATAL findings."""
    document = loader.RFC5280CertificateDocumentLoader().load_der_document(der, "leaf")
    level, generation = smime.determine_validation_level_and_generation(document)
    validator = certificate.create_pkix_certificate_validator_container(
        smime.create_decoding_validators(), smime.create_subscriber_validators(level, generation))
    blocking = [fd.finding.code for result in validator.validate(document.root)
                for fd in result.finding_descriptions if fd.finding.severity.name in ("ERROR", "FATAL")]
    return f"{level}-{generation}", blocking


# ---- client -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("key_type,key_usage", [("ec-p256", ("digital_signature",)),
                                                ("rsa-2048", ("digital_signature", "key_encipherment"))])
def test_a_client_certificate_is_mailbox_validated_multipurpose_smime_and_lints_clean(ca, key_type, key_usage):
    key = factories.private_key(key_type)
    judged = issuance.judge(values("client", emails=["Alice.Smith@Example.COM", "alice@example.org"],
                                   key_usage=key_usage), key.public_key(), NOW)
    assert judged.lint_profile == "smime"
    assert judged.emails == ("Alice.Smith@example.com", "alice@example.org")     # local part kept as typed
    assert judged.sans() == [("email", "Alice.Smith@example.com"), ("email", "alice@example.org")]
    assert judged.certificate_policies() == (issuance.POLICY_SMIME_MAILBOX_MULTIPURPOSE,)
    der = built(judged, key, ca)
    cert = x509.load_der_x509_certificate(der)
    assert cert.subject.rfc4514_string() == "CN=Alice.Smith@example.com"       # no O/OU/L/C: mailbox-validated
    assert cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.RFC822Name) == ["Alice.Smith@example.com", "alice@example.org"]
    assert lint.errors(lint.lint_certificate(der, "smime")) == []
    assert pkilint_smime(der) == ("MAILBOX-MULTIPURPOSE", [])


def test_a_client_certificate_for_email_protection_only_is_strict(ca):
    key = factories.private_key("ec-p384")
    judged = issuance.judge(values("client", emails=["bob@example.com"], eku=("email_protection",)),
                            key.public_key(), NOW)
    assert judged.certificate_policies() == (issuance.POLICY_SMIME_MAILBOX_STRICT,)
    der = built(judged, key, ca)
    assert lint.errors(lint.lint_certificate(der, "smime")) == []
    assert pkilint_smime(der) == ("MAILBOX-STRICT", [])


def test_a_client_certificate_whose_mailbox_is_too_long_for_a_cn_has_none_and_a_critical_san(ca):
    key = factories.private_key("ec-p256")
    address = "a" * 60 + "@example.com"
    judged = issuance.judge(values("client", emails=[address]), key.public_key(), NOW)
    cert = x509.load_der_x509_certificate(built(judged, key, ca))
    assert len(cert.subject) == 0
    assert cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).critical
    assert lint.errors(lint.lint_certificate(cert.public_bytes(DER), "smime")) == []


def test_the_smime_lint_refuses_a_certificate_it_cannot_type_and_drops_only_private_link_findings(ca):
    key = factories.private_key("ec-p256")
    untyped = x509build.build_leaf(factories.leaf_spec(key.public_key(), ca.now, urls=ca.leaf_urls), ca.issuing,
                                   ca.issuing_key).public_bytes(DER)
    assert [f.code for f in lint.lint_certificate(untyped, "smime")] == ["certplane.smime_type_undetected"]
    internal = factories.ca_chain("ec-p256", base_url="http://127.0.0.1:8080")
    judged = issuance.judge(values("client", emails=["bob@example.com"]), key.public_key(), NOW)
    der = built(judged, key, internal)
    assert lint.errors(lint.lint_certificate(der, "smime")) == []      # a private CA's links, on its own host
    assert set(pkilint_smime(der)[1]) == {"cabf.internal_domain_name"}  # what pkilint alone says of them


# ---- code signing -------------------------------------------------------------------------------------------

def test_a_code_signing_certificate_has_the_cs_br_extensions_and_lints_clean(ca):
    key = factories.private_key("rsa-3072")
    judged = issuance.judge(values("code_signing", common_name="Example Corp Build Service", eku=("code_signing",)),
                            key.public_key(), NOW)
    assert judged.lint_profile == "codesigning"
    assert judged.certificate_policies() == (issuance.POLICY_CODE_SIGNING,)
    assert judged.subject["organizational_unit"] is None and judged.sans() == []
    der = built(judged, key, ca, days=460)
    cert = x509.load_der_x509_certificate(der)
    assert cert.subject.rfc4514_string() == "CN=Example Corp Build Service,O=Example Corp,L=Berlin,C=DE"
    assert {ext.oid for ext in cert.extensions} == {
        x509.BasicConstraints.oid, x509.KeyUsage.oid, x509.ExtendedKeyUsage.oid, x509.SubjectKeyIdentifier.oid,
        x509.AuthorityKeyIdentifier.oid, x509.AuthorityInformationAccess.oid, x509.CRLDistributionPoints.oid,
        x509.CertificatePolicies.oid}
    assert lint.errors(lint.lint_certificate(der, "codesigning")) == []      # 460 days: the CS BR's longest


def test_the_codesigning_lint_reports_each_cs_br_rule_a_certificate_breaks(ca):
    key = factories.private_key("rsa-2048")
    spec = factories.leaf_spec(key.public_key(), ca.now, days=461, urls=x509build.CaUrls(),
                               key_usage={"digital_signature", "key_encipherment"},
                               extended_key_usage=("code_signing", "server_auth"), certificate_policies=())
    der = x509build.build_leaf(spec, ca.issuing, ca.issuing_key).public_bytes(DER)
    codes = {f.code for f in lint.errors(lint.lint_certificate(der, "codesigning"))}
    assert codes == {f"certplane.cs.{what}" for what in (
        "validity_over_460_days", "key_not_allowed", "subject_organization_missing", "subject_country_missing",
        "subject_locality_missing", "key_usage_not_digital_signature_only", "eku_not_code_signing_only",
        "policy_missing", "crl_distribution_point_missing", "aia_ca_issuers_missing", "aia_ocsp_missing",
        "host_name_in_san")}
    assert all(f.severity is lint.Severity.ERROR for f in lint.lint_certificate(der, "codesigning")
               if f.code.startswith("certplane.cs."))


def test_the_codesigning_lint_wants_key_usage_critical_and_the_eku(ca):
    key = factories.private_key("ec-p256")
    judged = issuance.judge(values("code_signing", common_name="Example Corp", eku=("code_signing",)),
                            key.public_key(), NOW)
    leaf = x509.load_der_x509_certificate(built(judged, key, ca))
    builder = x509.CertificateBuilder(leaf.issuer, leaf.subject, leaf.public_key(), leaf.serial_number,
                                      leaf.not_valid_before_utc, leaf.not_valid_after_utc)
    for ext in leaf.extensions:
        if ext.oid == x509.ExtendedKeyUsage.oid:
            continue
        builder = builder.add_extension(ext.value, ext.oid != x509.KeyUsage.oid and ext.critical)
    der = builder.sign(ca.issuing_key, x509build.signature_hash(ca.issuing_key)).public_bytes(DER)
    codes = {f.code for f in lint.errors(lint.lint_certificate(der, "codesigning"))}
    assert {"certplane.cs.key_usage_not_critical", "certplane.cs.eku_missing"} <= codes


@pytest.mark.parametrize("subject,missing", [({"organization": "Example Corp", "locality": "Berlin"}, "country"),
                                             ({"country": "DE", "state": "Berlin"}, "organization"),
                                             ({"organization": "Example Corp", "country": "DE"}, "locality")])
def test_an_incomplete_code_signing_subject_is_refused(subject, missing):
    with pytest.raises(PolicyViolation) as refused:
        issuance.judge(values("code_signing", common_name="Example Corp", subject=subject, eku=("code_signing",)),
                       factories.private_key("ec-p256").public_key(), NOW)
    assert refused.value.code == "subject_incomplete" and list(refused.value.details) == ["subject"]
    assert missing in refused.value.details["subject"][0]


def test_p521_is_not_a_code_signing_key():
    with pytest.raises(PolicyViolation) as refused:
        issuance.judge(values("code_signing", common_name="Example Corp", eku=("code_signing",)),
                       factories.private_key("ec-p521").public_key(), NOW)
    assert refused.value.code == "key_type_not_allowed"


# ---- device -------------------------------------------------------------------------------------------------

def test_a_device_name_that_is_not_a_dns_name_is_in_the_subject_only(ca):
    key = factories.private_key("ec-p256")
    judged = issuance.judge(values("device", common_name="Printer 3F #2", eku=("client_auth",)), key.public_key(),
                            NOW)
    assert judged.lint_profile == "rfc5280" and judged.certificate_policies() == ()
    assert not judged.common_name_is_a_san()
    cert = x509.load_der_x509_certificate(built(judged, key, ca))
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "Printer 3F #2"
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)[0].value == "Platform"
    with pytest.raises(x509.ExtensionNotFound):
        cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.CLIENT_AUTH]
    assert lint.errors(lint.lint_certificate(cert.public_bytes(DER), "rfc5280")) == []


def test_a_device_certificate_needs_a_name():
    with pytest.raises(InvalidRequest) as refused:
        issuance.judge(values("device", eku=("client_auth",)), factories.private_key("ec-p256").public_key(), NOW)
    assert refused.value.code == "name_required"


def test_the_new_lint_containers_are_built_once():
    lint.warm_up()
    before = dict(lint.builds)
    assert ("codesigning", None) in before and all(("smime", kind) in before for kind in lint.SMIME_KINDS)
    lint.warm_up()
    assert dict(lint.builds) == before
