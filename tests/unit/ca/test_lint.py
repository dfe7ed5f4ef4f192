"""services.ca.lint: pkilint findings that block signing, with validators built once per process."""
import datetime as dt
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from services.ca import lint, x509build
from tests import factories

DER = serialization.Encoding.DER


@pytest.fixture(scope="module")
def ca():
    return factories.ca_chain("ec-p256")


@pytest.fixture(scope="module")
def good_leaf(ca):
    spec = factories.leaf_spec(factories.private_key("ec-p256").public_key(), ca.now)
    return x509build.build_leaf(spec, ca.issuing, ca.issuing_key)


def _rebuilt(leaf, ca, drop=(), replace=None):
    """`leaf` re-signed by the issuing CA with extensions dropped or replaced: the broken certificates
    build_leaf refuses to make."""
    builder = x509.CertificateBuilder(leaf.issuer, leaf.subject, leaf.public_key(), leaf.serial_number,
                                      leaf.not_valid_before_utc, leaf.not_valid_after_utc)
    for ext in leaf.extensions:
        if ext.oid in drop:
            continue
        value, critical = (replace or {}).get(ext.oid, (ext.value, ext.critical))
        builder = builder.add_extension(value, critical)
    return builder.sign(ca.issuing_key, x509build.signature_hash(ca.issuing_key)).public_bytes(DER)


def _error_codes(der, profile="serverauth"):
    return {f.code for f in lint.errors(lint.lint_certificate(der, profile))}


def test_a_good_leaf_has_no_errors_under_either_certificate_profile(good_leaf):
    for profile in ("serverauth", "rfc5280"):
        findings = lint.lint_certificate(good_leaf.public_bytes(DER), profile)
        assert lint.errors(findings) == [], profile
        assert all(isinstance(f.severity, lint.Severity) and f.path for f in findings)


def test_a_leaf_without_san_is_an_error(good_leaf, ca):
    codes = _error_codes(_rebuilt(good_leaf, ca, drop=(x509.SubjectAlternativeName.oid,)))

    assert "cabf.serverauth.subscriber.subject_altname_extension_absent" in codes


def test_a_leaf_with_ca_true_is_an_error(good_leaf, ca):
    codes = _error_codes(_rebuilt(good_leaf, ca, replace={
        x509.BasicConstraints.oid: (x509.BasicConstraints(ca=True, path_length=None), True)}))

    assert "cabf.ca_certificate_required_ku_missing" in codes   # linted as the CA it claims to be


def test_key_encipherment_on_an_ec_key_is_an_error(good_leaf, ca):
    ku = x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=True,
                       data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
                       encipher_only=False, decipher_only=False)

    codes = _error_codes(_rebuilt(good_leaf, ca, replace={x509.KeyUsage.oid: (ku, True)}))

    assert {"pkix.key_usage_value_prohibited_for_ec", "cabf.serverauth.subscriber_prohibited_ku_present"} <= codes


def test_validity_over_200_days_is_an_error_and_exactly_200_is_not(ca):
    key = factories.private_key("ec-p256").public_key()
    too_long = factories.leaf_spec(key, ca.now, not_after=ca.now + dt.timedelta(days=200))   # inclusive: +1 s
    exactly = factories.leaf_spec(key, ca.now, days=200)

    assert "cabf.serverauth.certificate_validity_period_exceeds_200_days" in _error_codes(
        x509build.tbs_for_lint(too_long, ca.issuing))
    assert _error_codes(x509build.tbs_for_lint(exactly, ca.issuing)) == set()


def test_internal_names_and_urls_are_errors_under_the_br(ca):
    """A private CA under the BR profile cannot name intranet hosts, nor publish CRL/OCSP on one."""
    key = factories.private_key("ec-p256").public_key()
    internal_san = factories.leaf_spec(key, ca.now, dns_names=("db.corp.internal",))
    local_urls = factories.leaf_spec(key, ca.now, urls=x509build.CaUrls.of("http://127.0.0.1:8080", "i"))

    assert "cabf.internal_domain_name" in _error_codes(x509build.tbs_for_lint(internal_san, ca.issuing))
    assert "cabf.internal_domain_name" in _error_codes(x509build.tbs_for_lint(local_urls, ca.issuing))


def test_undecodable_bytes_are_one_fatal_finding():
    findings = lint.lint_certificate(b"\x30\x03\x02\x01\x01", "serverauth")

    assert [f.severity for f in findings] == [lint.Severity.FATAL]
    assert lint.errors(findings) == findings


def test_unknown_profile_is_refused(good_leaf):
    with pytest.raises(ValueError, match="unknown lint profile"):
        lint.lint_certificate(good_leaf.public_bytes(DER), "no-such-profile")


def test_errors_keeps_fatal_and_error_only():
    findings = [lint.Finding(severity, f"code.{severity}", "", "p") for severity in lint.Severity]

    assert [f.severity for f in lint.errors(findings)] == [lint.Severity.FATAL, lint.Severity.ERROR]


def test_br_crl_profile_refuses_long_validity_and_certificate_hold(ca):
    good = x509build.build_crl(ca.issuing, ca.issuing_key, [(5, ca.now, "key_compromise")], 1, ca.now,
                               ca.now + dt.timedelta(days=7))
    bad = x509build.build_crl(ca.issuing, ca.issuing_key, [(5, ca.now, "certificate_hold")], 2, ca.now,
                              ca.now + dt.timedelta(days=30))

    assert lint.errors(lint.lint_crl(good.public_bytes(DER))) == []
    assert _error_codes(bad.public_bytes(DER), "crl") == set()             # RFC 5280 allows both
    assert {"cabf.crl_invalid_validity_period", "cabf.crl_prohibited_reason_code"} <= {
        f.code for f in lint.errors(lint.lint_crl(bad.public_bytes(DER)))}


def test_root_crl_may_say_ca_compromise_under_the_arl_profile(ca):
    arl = x509build.build_crl(ca.root, ca.root_key, [(ca.issuing.serial_number, ca.now, "ca_compromise")], 1,
                              ca.now, ca.now + dt.timedelta(days=300))

    assert _error_codes(arl.public_bytes(DER), "arl-br") == set()
    assert "cabf.crl_prohibited_reason_code" in _error_codes(arl.public_bytes(DER), "crl-br")


def test_warm_up_builds_what_issuance_needs(good_leaf):
    lint.warm_up()
    built = dict(lint.builds)

    lint.lint_certificate(good_leaf.public_bytes(DER), "serverauth")
    lint.lint_certificate(good_leaf.public_bytes(DER), "rfc5280")

    assert dict(lint.builds) == built


def test_validators_are_built_once_and_reused(good_leaf, ca):
    der = good_leaf.public_bytes(DER)
    lint.lint_certificate(der, "serverauth")
    built = dict(lint.builds)

    started = time.perf_counter()
    for _ in range(20):
        lint.lint_certificate(der, "serverauth")
    per_lint = (time.perf_counter() - started) / 20
    broken = _rebuilt(good_leaf, ca, drop=(x509.SubjectAlternativeName.oid,))
    assert lint.errors(lint.lint_certificate(broken, "serverauth"))
    assert lint.errors(lint.lint_certificate(der, "serverauth")) == []     # no state left from the broken one

    assert dict(lint.builds) == built
    assert all(count == 1 for count in lint.builds.values())
    print(f"\nserverauth lint with a reused validator: {per_lint * 1000:.1f} ms")


def test_a_leftmost_wildcard_is_clean_under_rfc5280_and_a_bad_label_after_it_is_not(ca):
    """Private PKIs issue `*.corp.example`: pkilint's RFC 5280 validator reads `*` as a bad label, which the
    rfc5280 profile drops for `*` + valid labels only."""
    key = factories.private_key("ec-p256").public_key()
    wildcard = factories.leaf_spec(key, ca.now, dns_names=("*.corp.example",))
    assert "pkix.invalid_domain_name_syntax" not in _error_codes(x509build.tbs_for_lint(wildcard, ca.issuing),
                                                                 "rfc5280")
    bad = factories.leaf_spec(key, ca.now, dns_names=("*.bad_label.example",))
    assert "pkix.invalid_domain_name_syntax" in _error_codes(x509build.tbs_for_lint(bad, ca.issuing), "rfc5280")
