"""Certificates, CRLs and OCSP responses built by services.ca.x509build, checked by OpenSSL and pkilint."""
import datetime as dt
import os
import shutil
import subprocess
import time

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from cryptography.x509.oid import SignatureAlgorithmOID

from services.ca import lint, x509build
from tests import factories

PEM, DER = serialization.Encoding.PEM, serialization.Encoding.DER
pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")


@pytest.fixture(scope="module")
def ca():
    return factories.ca_chain("ec-p256")


def _csr_key(key_type="ec-p256"):
    csr = x509.load_pem_x509_csr(factories.csr(key_type))
    assert csr.is_signature_valid
    return csr.public_key()


def _leaf(ca, **overrides):
    spec = factories.leaf_spec(_csr_key(), ca.now, **overrides)
    return spec, x509build.build_leaf(spec, ca.issuing, ca.issuing_key)


def _write(directory, **documents) -> None:
    for name, document in documents.items():
        encoding = DER if name.endswith("_der") else PEM
        filename = name.replace("_der", ".der").replace("_pem", ".pem")
        (directory / filename).write_bytes(document if isinstance(document, bytes) else
                                           document.public_bytes(encoding))


def _openssl(directory, *args) -> subprocess.CompletedProcess:
    return subprocess.run(["openssl", *args], cwd=directory, capture_output=True, text=True, timeout=30)


# ---- chain and leaf ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("key_type", ["ec-p256", "ec-p384", "rsa-3072"])
def test_openssl_verifies_a_leaf_for_a_csr_key_through_the_issuing_ca(tmp_path, key_type):
    ca = factories.ca_chain(key_type)
    _, leaf = _leaf(ca)
    _write(tmp_path, root_pem=ca.root, issuing_pem=ca.issuing, leaf_pem=leaf)

    result = _openssl(tmp_path, "verify", "-x509_strict", "-purpose", "sslserver", "-CAfile", "root.pem",
                      "-untrusted", "issuing.pem", "leaf.pem")

    assert result.returncode == 0, result.stderr + result.stdout
    assert "leaf.pem: OK" in result.stdout
    expected = {"ec-p256": SignatureAlgorithmOID.ECDSA_WITH_SHA256, "ec-p384": SignatureAlgorithmOID.ECDSA_WITH_SHA384,
                "rsa-3072": SignatureAlgorithmOID.RSA_WITH_SHA256}[key_type]          # PKCS#1 v1.5, not PSS
    assert leaf.signature_algorithm_oid == ca.issuing.signature_algorithm_oid == expected


def test_openssl_refuses_a_leaf_whose_issuing_ca_is_not_under_the_root(tmp_path, ca):
    other = factories.ca_chain()
    _, leaf = _leaf(ca)
    _write(tmp_path, root_pem=other.root, issuing_pem=ca.issuing, leaf_pem=leaf)

    result = _openssl(tmp_path, "verify", "-CAfile", "root.pem", "-untrusted", "issuing.pem", "leaf.pem")

    assert result.returncode != 0


def test_ca_certificates_have_the_constraints_of_their_place_in_the_chain(ca):
    root_bc = ca.root.extensions.get_extension_for_class(x509.BasicConstraints)
    issuing_bc = ca.issuing.extensions.get_extension_for_class(x509.BasicConstraints)
    ku = ca.issuing.extensions.get_extension_for_class(x509.KeyUsage)

    assert root_bc.critical and root_bc.value.ca and root_bc.value.path_length is None
    assert issuing_bc.critical and issuing_bc.value.ca and issuing_bc.value.path_length == 0
    assert ku.critical and ku.value.key_cert_sign and ku.value.crl_sign and ku.value.digital_signature
    crldp = ca.issuing.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert crldp[0].full_name[0].value == "http://pki.example.com/crl/root-1.crl"
    aia = {d.access_method: d.access_location.value
           for d in ca.issuing.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value}
    assert aia == {x509.AuthorityInformationAccessOID.OCSP: "http://pki.example.com/ocsp",
                   x509.AuthorityInformationAccessOID.CA_ISSUERS: "http://pki.example.com/ca/root-1.crt"}


def test_root_and_issuing_ca_pass_the_serverauth_lint(ca):
    for cert in (ca.root, ca.issuing):
        assert lint.errors(lint.lint_certificate(cert.public_bytes(DER), "serverauth")) == []


def test_ca_validity_is_exactly_the_days_asked_for(ca):
    root_days = ca.root.not_valid_after_utc - ca.root.not_valid_before_utc
    issuing_days = ca.issuing.not_valid_after_utc - ca.issuing.not_valid_before_utc

    assert root_days == dt.timedelta(days=3650, seconds=-1)        # RFC 5280 validity includes both ends
    assert issuing_days == dt.timedelta(days=1825, seconds=-1)


def test_serials_are_large_unique_and_fit_20_octets():
    serials = [x509build.new_serial() for _ in range(500)]

    assert len(set(serials)) == 500
    assert all(2**63 < s < 2**159 for s in serials)
    assert all(s.bit_length() // 8 + 1 <= 20 for s in serials)        # DER INTEGER octets, sign bit included


def test_leaf_has_san_with_the_cn_and_is_not_a_ca(ca):
    spec, leaf = _leaf(ca, dns_names=("www.example.com", "example.com"))

    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    cn = leaf.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value
    bc = leaf.extensions.get_extension_for_class(x509.BasicConstraints)
    assert san.value.get_values_for_type(x509.DNSName) == ["www.example.com", "example.com"]
    assert not san.critical                                   # the subject is not empty
    assert cn in san.value.get_values_for_type(x509.DNSName)
    assert bc.critical and bc.value.ca is False
    assert leaf.serial_number == spec.serial
    assert leaf.not_valid_before_utc == spec.not_before and leaf.not_valid_after_utc == spec.not_after
    policies = [p.policy_identifier.dotted_string
                for p in leaf.extensions.get_extension_for_class(x509.CertificatePolicies).value]
    assert policies == [x509build.POLICY_DV]


def test_san_is_critical_when_the_subject_is_empty(ca):
    _, leaf = _leaf(ca, common_name=None)

    assert len(leaf.subject) == 0
    assert leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).critical


def test_organization_makes_an_ov_policy_leaf(ca):
    _, leaf = _leaf(ca, organization="Example Corp", country="US", state="Illinois", locality="Springfield")

    policies = [p.policy_identifier.dotted_string
                for p in leaf.extensions.get_extension_for_class(x509.CertificatePolicies).value]
    assert policies == [x509build.POLICY_OV]
    assert lint.errors(lint.lint_certificate(leaf.public_bytes(DER), "serverauth")) == []


def test_sans_may_be_dns_ip_and_email_given_as_pairs(ca):
    _, leaf = _leaf(ca, sans=[("dns", "www.example.com"), ("ip", "192.0.2.7"), ("email", "ops@example.com")],
                    extended_key_usage=["server_auth", "client_auth"])

    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["www.example.com"]
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["192.0.2.7"]
    assert san.get_values_for_type(x509.RFC822Name) == ["ops@example.com"]
    assert list(leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        x509.ExtendedKeyUsageOID.SERVER_AUTH, x509.ExtendedKeyUsageOID.CLIENT_AUTH]


def test_unknown_usages_are_refused(ca):
    with pytest.raises(ValueError, match="unknown extended key usage"):
        _leaf(ca, extended_key_usage=("server_auth", "time_travel"))
    with pytest.raises(ValueError, match="unknown key usage"):
        _leaf(ca, key_usage={"digital_signature", "mind_reading"})


def test_common_name_outside_the_sans_is_refused(ca):
    with pytest.raises(ValueError, match="not one of the subject alternative names"):
        _leaf(ca, common_name="other.example.com")


def test_leaf_passes_the_serverauth_lint_before_and_after_signing(ca):
    spec, leaf = _leaf(ca)

    assert lint.errors(lint.lint_certificate(x509build.tbs_for_lint(spec, ca.issuing), "serverauth")) == []
    assert lint.errors(lint.lint_certificate(leaf.public_bytes(DER), "serverauth")) == []


def test_tbs_for_lint_is_the_same_certificate_signed_by_a_throwaway_key(ca):
    spec, leaf = _leaf(ca)

    linted = x509.load_der_x509_certificate(x509build.tbs_for_lint(spec, ca.issuing))

    assert linted.tbs_certificate_bytes == leaf.tbs_certificate_bytes
    assert linted.signature_algorithm_oid == leaf.signature_algorithm_oid
    with pytest.raises(InvalidSignature):
        linted.verify_directly_issued_by(ca.issuing)
    leaf.verify_directly_issued_by(ca.issuing)


@pytest.mark.parametrize("key_type", ["ec-p256", "ec-p384", "rsa-3072"])
def test_the_throwaway_key_matches_the_issuer_and_is_made_once(key_type):
    issuer_public = factories.private_key(key_type).public_key()

    throwaway = x509build.throwaway_key_for(issuer_public)

    assert x509build.key_algorithm(throwaway) == x509build.key_algorithm(issuer_public) == key_type
    assert throwaway.public_key() != issuer_public
    assert x509build.throwaway_key_for(issuer_public) is throwaway


def test_key_encipherment_on_an_ec_key_is_a_lint_error(ca):
    spec = factories.leaf_spec(_csr_key(), ca.now, key_usage=frozenset({"digital_signature", "key_encipherment"}))

    codes = {f.code for f in lint.errors(lint.lint_certificate(x509build.tbs_for_lint(spec, ca.issuing),
                                                               "serverauth"))}

    assert "cabf.serverauth.subscriber_prohibited_ku_present" in codes


def test_rsa_leaf_gets_key_encipherment_by_default(ca):
    spec = factories.leaf_spec(factories.private_key("rsa-2048").public_key(), ca.now)
    leaf = x509build.build_leaf(spec, ca.issuing, ca.issuing_key)

    ku = leaf.extensions.get_extension_for_class(x509.KeyUsage)
    assert ku.critical and ku.value.digital_signature and ku.value.key_encipherment
    assert lint.errors(lint.lint_certificate(leaf.public_bytes(DER), "serverauth")) == []


# ---- CRL --------------------------------------------------------------------------------------------------
def test_crl_lists_serials_with_reasons_and_its_number(tmp_path, ca):
    revoked_at = ca.now + dt.timedelta(minutes=1)
    revoked = [(0x1234567890ABCDEF1, revoked_at, "key_compromise"), (0x2222, revoked_at, "superseded"),
               (0x3333, revoked_at, "unspecified")]
    crl = x509build.build_crl(ca.issuing, ca.issuing_key, revoked, 42, ca.now, ca.now + dt.timedelta(days=7))
    _write(tmp_path, issuing_pem=ca.issuing)
    (tmp_path / "crl.der").write_bytes(crl.public_bytes(DER))

    text = _openssl(tmp_path, "crl", "-in", "crl.der", "-inform", "DER", "-noout", "-text")
    verified = _openssl(tmp_path, "crl", "-in", "crl.der", "-inform", "DER", "-noout", "-CAfile", "issuing.pem")

    assert text.returncode == 0, text.stderr
    assert "X509v3 CRL Number" in text.stdout and "42" in text.stdout
    assert "Serial Number: 01234567890ABCDEF1" in text.stdout
    assert "Key Compromise" in text.stdout and "Superseded" in text.stdout
    assert "X509v3 Authority Key Identifier" in text.stdout
    assert "verify OK" in verified.stderr + verified.stdout
    entry = crl.get_revoked_certificate_by_serial_number(0x3333)
    assert len(entry.extensions) == 0              # "unspecified" is said by leaving the reason out
    assert lint.errors(lint.lint_certificate(crl.public_bytes(DER), "crl-br")) == []


@pytest.mark.parametrize("reason", ["remove_from_crl", "stolen"])
def test_crl_refuses_reasons_rfc5280_does_not_allow(ca, reason):
    with pytest.raises(ValueError, match="unknown revocation reason"):
        x509build.build_crl(ca.issuing, ca.issuing_key, [(1, ca.now, reason)], 1, ca.now,
                            ca.now + dt.timedelta(days=7))


def test_revocation_times_must_be_aware_and_are_stored_in_utc(ca):
    plus_two = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    crl = x509build.build_crl(ca.issuing, ca.issuing_key, [(9, plus_two, "superseded")], 1, ca.now,
                              ca.now + dt.timedelta(days=7))

    assert crl.get_revoked_certificate_by_serial_number(9).revocation_date_utc == plus_two
    assert crl.get_revoked_certificate_by_serial_number(9).revocation_date_utc.hour == 10
    with pytest.raises(ValueError, match="timezone-aware"):
        x509build.build_crl(ca.issuing, ca.issuing_key, [(9, plus_two.replace(tzinfo=None), "superseded")], 1,
                            ca.now, ca.now + dt.timedelta(days=7))


def test_crl_for_lint_lists_one_entry_of_each_shape_with_the_real_crls_fields(ca):
    """Shape: the encoded length (serial length, UTCTime or GeneralizedTime) and the reason."""
    later = dt.datetime(2051, 3, 1, tzinfo=dt.timezone.utc)
    revoked = [(1000 + i, ca.now - dt.timedelta(minutes=i), "key_compromise") for i in range(5000)]
    revoked[2500] = (3500, ca.now - dt.timedelta(minutes=2500), "certificate_hold")
    revoked += [(1, ca.now, "superseded"), (2**158, ca.now, "superseded"), (2**158 + 7, ca.now, "superseded"),
                (5, later, "unspecified")]
    entries = x509build.CrlEntries()
    for start in range(0, len(revoked), 1000):
        entries.add([x509build.crl_entry(*entry) for entry in revoked[start:start + 1000]])
    next_update = ca.now + dt.timedelta(days=7)

    linted = x509.load_der_x509_crl(x509build.crl_for_lint(ca.issuing, entries.lint_sample(), 8, ca.now,
                                                            next_update))
    real = x509.load_der_x509_crl(x509build.sign_crl(x509build.crl_tbs(ca.issuing, entries.chunks, 8, ca.now,
                                                                        next_update), ca.issuing_key))

    serials = {entry.serial_number for entry in linted}
    # key_compromise and certificate_hold (2-octet serials), superseded with a 1- and a 20-octet serial, and the
    # GeneralizedTime one; of entries with one shape, the last read
    assert serials == {5999, 3500, 1, 2**158 + 7, 5}
    assert len(real) == len(revoked) == entries.count
    assert list(linted.extensions) == list(real.extensions) and linted.issuer == real.issuer
    assert linted.signature_algorithm_oid == real.signature_algorithm_oid
    assert linted.next_update_utc == real.next_update_utc and linted.last_update_utc == real.last_update_utc
    assert not linted.is_signature_valid(ca.issuing.public_key())
    assert real.is_signature_valid(ca.issuing.public_key())
    assert "cabf.crl_prohibited_reason_code" in {f.code for f in lint.errors(lint.lint_crl(linted.public_bytes(DER)))}


def test_crl_of_100000_entries_is_put_together_and_signed_in_well_under_a_second(ca):
    distinct = [x509build.crl_entry(x509build.new_serial(), ca.now, "key_compromise") for _ in range(1000)]
    entries = x509build.CrlEntries()
    for _ in range(100):
        entries.add(distinct)          # the same 1,000 entries 100 times: encoding 100,000 would take ~10 s

    started = time.perf_counter()
    der = x509build.sign_crl(x509build.crl_tbs(ca.issuing, entries.chunks, 7, ca.now, ca.now + dt.timedelta(days=7)),
                             ca.issuing_key)
    elapsed = time.perf_counter() - started

    print(f"\nCRL with 100,000 entries put together and signed in {elapsed:.3f} s")
    crl = x509.load_der_x509_crl(der)
    assert len(crl) == 100_000
    assert crl.is_signature_valid(ca.issuing.public_key())
    assert elapsed < 1.0


# ---- OCSP -------------------------------------------------------------------------------------------------
def _request(leaf, issuer, nonce=None, algorithm=None) -> bytes:
    builder = ocsp.OCSPRequestBuilder().add_certificate(leaf, issuer, algorithm or hashes.SHA1())
    if nonce is not None:
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    return builder.build().public_bytes(DER)


def _times():
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    return now, now + dt.timedelta(days=4)


def test_ocsp_revoked_response_verifies_and_echoes_the_nonce(tmp_path, ca):
    _, leaf = _leaf(ca)
    nonce = os.urandom(16)
    query = x509build.parse_ocsp_request(_request(leaf, ca.issuing, nonce))
    this_update, next_update = _times()
    response = x509build.build_ocsp_response(query, ca.issuing, ca.issuing, ca.issuing_key, "revoked",
                                             this_update - dt.timedelta(hours=1), "key_compromise",
                                             this_update, next_update)
    other_nonce = x509build.build_ocsp_response(
        x509build.OcspQuery(**{**query.__dict__, "nonce": os.urandom(16)}), ca.issuing, ca.issuing,
        ca.issuing_key, "revoked", this_update, "key_compromise", this_update, next_update)
    _write(tmp_path, root_pem=ca.root, issuing_pem=ca.issuing, req_der=_request(leaf, ca.issuing, nonce),
           resp_der=response, other_der=other_nonce)

    result = _openssl(tmp_path, "ocsp", "-reqin", "req.der", "-respin", "resp.der", "-issuer", "issuing.pem",
                      "-CAfile", "root.pem", "-resp_text")
    mismatch = _openssl(tmp_path, "ocsp", "-reqin", "req.der", "-respin", "other.der", "-issuer", "issuing.pem",
                        "-CAfile", "root.pem")

    assert query.serial == leaf.serial_number and query.nonce == nonce and query.hash_algorithm == "sha1"
    assert result.returncode == 0, result.stderr
    assert "Response verify OK" in result.stderr
    assert "Cert Status: revoked" in result.stdout and "keyCompromise" in result.stdout
    assert ("0410" + nonce.hex().upper()) in result.stdout.replace(":", "")
    assert "Nonce Verify error" in mismatch.stderr + mismatch.stdout      # openssl really compares nonces
    assert lint.errors(lint.lint_certificate(response, "ocsp")) == []


def test_ocsp_answers_unknown_for_a_serial_it_did_not_issue(tmp_path, ca):
    _, leaf = _leaf(ca)
    name_hash = x509build.parse_ocsp_request(_request(leaf, ca.issuing))
    request = ocsp.OCSPRequestBuilder().add_certificate_by_hash(
        name_hash.issuer_name_hash, name_hash.issuer_key_hash, x509build.new_serial(), hashes.SHA1()).build()
    query = x509build.parse_ocsp_request(request.public_bytes(DER))
    this_update, next_update = _times()
    response = x509build.build_ocsp_response(query, ca.issuing, ca.issuing, ca.issuing_key, "unknown", None, None,
                                             this_update, next_update)
    _write(tmp_path, root_pem=ca.root, issuing_pem=ca.issuing, resp_der=response)

    result = _openssl(tmp_path, "ocsp", "-respin", "resp.der", "-issuer", "issuing.pem", "-CAfile", "root.pem",
                      "-resp_text", "-no_nonce")
    parsed = ocsp.load_der_ocsp_response(response)

    assert query.nonce is None
    assert result.returncode == 0, result.stderr
    assert "Cert Status: unknown" in result.stdout
    assert parsed.certificate_status is ocsp.OCSPCertStatus.UNKNOWN
    assert parsed.serial_number == query.serial
    assert len(parsed.extensions) == 0                                        # no nonce asked, none sent


def test_issuer_matches_only_the_ca_the_query_names(ca):
    _, leaf = _leaf(ca)
    other = factories.ca_chain()
    same_name_other_key = x509build.build_issuing(
        x509build.generate_key(), ca.root_key, ca.root, "Certplane Test Issuing CA", ca.now, 30,
        x509build.CaUrls(), country="US")

    for algorithm in (hashes.SHA1(), hashes.SHA256()):
        query = x509build.parse_ocsp_request(_request(leaf, ca.issuing, algorithm=algorithm))
        assert x509build.issuer_matches(query, ca.issuing)
        assert not x509build.issuer_matches(query, other.issuing)
        assert not x509build.issuer_matches(query, same_name_other_key)
        assert not x509build.issuer_matches(query, ca.root)


@pytest.mark.parametrize("der", [b"", b"\x30\x03\x02\x01\x01", b"not an ocsp request"])
def test_garbage_is_a_malformed_ocsp_request(der):
    with pytest.raises(x509build.OcspMalformed):
        x509build.parse_ocsp_request(der)


@pytest.mark.parametrize("kind, status", [("malformed", ocsp.OCSPResponseStatus.MALFORMED_REQUEST),
                                          ("unauthorized", ocsp.OCSPResponseStatus.UNAUTHORIZED),
                                          ("internal", ocsp.OCSPResponseStatus.INTERNAL_ERROR),
                                          ("try_later", ocsp.OCSPResponseStatus.TRY_LATER)])
def test_ocsp_errors_carry_their_status(kind, status):
    assert ocsp.load_der_ocsp_response(x509build.ocsp_error(kind)).response_status is status


@pytest.mark.parametrize("key_type, size", [("ec-p192", 192), ("ec-p256", 256), ("ec-p384", 384), ("ec-p521", 521),
                                            ("ec-secp256k1", 256), ("rsa-1024", 1024), ("rsa-2048", 2048),
                                            ("rsa-3072", 3072), ("rsa-4096", 4096)])
def test_test_factories_make_signed_csrs_of_every_key_type(key_type, size):
    csr = x509.load_pem_x509_csr(factories.csr(key_type, sans=("a.example.com", "b.example.com")))

    assert csr.is_signature_valid
    assert csr.public_key().key_size == size
    assert factories.private_key(key_type) is factories.private_key(key_type)
    assert csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.DNSName) == ["a.example.com", "b.example.com"]
