"""parse_csr: what a pasted, uploaded or posted CSR must be, and the reason a user reads when it is not.

Keys and CSRs are made at test time. Requests cryptography will not build (an even RSA exponent, a UTF-8 dNSName)
are assembled with pyasn1: the CertificationRequestInfo is edited and either re-signed with the real key or, when
no key could sign it, left with the old signature.
"""
import base64
import datetime
import functools
import hashlib
import ipaddress

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519, padding, rsa
from cryptography.x509.oid import NameOID
from pyasn1.codec.der import decoder, encoder
from pyasn1.type import univ
from pyasn1_alt_modules import rfc2986, rfc3279

from contracts.errors import InvalidRequest
from services.enrollment.csr import parse_csr

DER = serialization.Encoding.DER


# ---- building requests ----------------------------------------------------------------------------------------

@functools.cache
def key(kind: str):
    family, _, size = kind.partition("-")
    if family == "rsa":
        return rsa.generate_private_key(65537, int(size))
    if family == "rsa3":                                     # public exponent 3
        return rsa.generate_private_key(3, int(size))
    if family == "ec":
        return ec.generate_private_key({"p256": ec.SECP256R1(), "p384": ec.SECP384R1(), "p521": ec.SECP521R1(),
                                        "secp256k1": ec.SECP256K1(), "p192": ec.SECP192R1()}[size])
    if family == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    if family == "dsa":
        return dsa.generate_private_key(int(size))
    raise ValueError(kind)


def make_csr(private_key, cn="www.example.com", dns_names=("www.example.com",)) -> bytes:
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)] if cn else []))
    if dns_names:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in dns_names]),
                                        critical=False)
    algorithm = None if isinstance(private_key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return builder.sign(private_key, algorithm).public_bytes(DER)


def pem(der: bytes, label="CERTIFICATE REQUEST") -> str:
    body = base64.b64encode(der).decode()
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    return "\n".join([f"-----BEGIN {label}-----", *lines, f"-----END {label}-----", ""])


def resigned(der: bytes, info_der: bytes, private_key) -> bytes:
    """The CSR with its CertificationRequestInfo replaced by `info_der`, signed by `private_key` (RSA or EC)."""
    request, _ = decoder.decode(der, asn1Spec=rfc2986.CertificationRequest())
    request["certificationRequestInfo"], _ = decoder.decode(info_der, asn1Spec=rfc2986.CertificationRequestInfo())
    if isinstance(private_key, rsa.RSAPrivateKey):
        signature = private_key.sign(info_der, padding.PKCS1v15(), hashes.SHA256())
    else:
        signature = private_key.sign(info_der, ec.ECDSA(hashes.SHA256()))
    request["signature"] = univ.BitString.fromOctetString(signature)
    return encoder.encode(request)


def with_rsa_numbers(der: bytes, n: int, e: int) -> bytes:
    """The CSR with its RSA public key replaced by (n, e); the old signature stays (no key with an even exponent
    can sign anything)."""
    request, _ = decoder.decode(der, asn1Spec=rfc2986.CertificationRequest())
    public = rfc3279.RSAPublicKey()
    public["modulus"], public["publicExponent"] = n, e
    request["certificationRequestInfo"]["subjectPKInfo"]["subjectPublicKey"] = \
        univ.BitString.fromOctetString(encoder.encode(public))
    return encoder.encode(request)


def flip_last_byte(der: bytes) -> bytes:
    """The last byte of a CSR is inside its signature."""
    return der[:-1] + bytes([der[-1] ^ 0x01])


def refusal(value) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as refused:
        parse_csr(value)
    assert set(refused.value.details) == {"csr"} and refused.value.details["csr"]
    return refused.value


# ---- good requests --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["rsa-2048", "rsa-3072", "rsa-4096", "ec-p256", "ec-p384", "ec-p521"])
def test_a_request_with_an_accepted_key_parses_with_its_key_type(kind):
    der = make_csr(key(kind), dns_names=("www.example.com", "Example.COM."))
    parsed = parse_csr(pem(der))
    assert parsed.key_type == kind
    assert parsed.der == der
    assert parsed.subject_common_name == "www.example.com"
    assert parsed.dns_names == ("www.example.com", "example.com")
    spki = key(kind).public_key().public_bytes(DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert parsed.public_key_sha256 == hashlib.sha256(spki).hexdigest()
    assert parsed.public_key == key(kind).public_key()


def test_pem_der_and_bare_base64_are_the_same_request():
    der = make_csr(key("ec-p256"))
    body = base64.b64encode(der).decode()
    forms = [pem(der), pem(der).encode(), pem(der, "NEW CERTIFICATE REQUEST"), der, bytearray(der), body,
             "\n".join(body[i:i + 76] for i in range(0, len(body), 76)) + "\n", body.encode(),
             "\ufeff" + pem(der), "Certificate Request:\n    Data: (openssl req -text)\n" + pem(der)]
    for form in forms:
        assert parse_csr(form).der == der


def test_idn_names_in_the_request_are_stored_as_a_labels():
    parsed = parse_csr(make_csr(key("ec-p256"), cn="Bücher", dns_names=("WWW.XN--BCHER-KVA.Example.",
                                                                          "www.xn--bcher-kva.example")))
    assert parsed.dns_names == ("www.xn--bcher-kva.example",)
    assert parsed.subject_common_name == "Bücher"         # the CN is not a host name for every type: as written


def test_a_utf8_dns_name_that_some_tools_write_is_normalised_too():
    der = make_csr(key("ec-p256"), cn=None, dns_names=("bxxcher.example",))
    info = x509.load_der_x509_csr(der).tbs_certrequest_bytes.replace(b"bxxcher", "bücher".encode())
    parsed = parse_csr(resigned(der, info, key("ec-p256")))
    assert parsed.dns_names == ("xn--bcher-kva.example",)


def test_a_request_without_names_parses_and_keeps_a_person_name_as_cn():
    parsed = parse_csr(make_csr(key("ec-p256"), cn="Jane Doe", dns_names=()))
    assert parsed.dns_names == () and parsed.subject_common_name == "Jane Doe"


def test_an_odd_rsa_exponent_of_three_is_accepted():
    assert parse_csr(make_csr(key("rsa3-2048"))).key_type == "rsa-2048"


# ---- not a CSR --------------------------------------------------------------------------------------------------

def _self_signed_certificate_pem() -> str:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "not a csr")])
    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                   .public_key(key("ec-p256").public_key()).serial_number(1)
                   .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
                   .sign(key("ec-p256"), hashes.SHA256()))
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


@pytest.mark.parametrize("junk,reason", [
    ("", "empty"),
    ("   \n", "empty"),
    (b"", "empty"),
    ("hello, this is my certificate", "base64"),
    (b"\x00\xff\xfe binary", "neither DER nor PEM"),
    (b"\x30\x03\x02\x01\x00", "not a PKCS#10"),             # a DER SEQUENCE, but not a request
    (base64.b64encode(b"just some text").decode(), "not a PKCS#10"),
    (12345, "must be PEM text"),
    (None, "must be PEM text"),
])
def test_junk_is_malformed(junk, reason):
    refused = refusal(junk)
    assert refused.code == "csr_malformed"
    assert reason in refused.details["csr"][0]


def test_a_certificate_pasted_instead_of_a_csr_is_named():
    refused = refusal(_self_signed_certificate_pem())
    assert refused.code == "csr_malformed" and "a PEM CERTIFICATE, not a CERTIFICATE REQUEST" in refused.message


def test_a_private_key_pasted_by_mistake_is_refused_without_echoing_it():
    key_pem = key("ec-p256").private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()).decode()
    refused = refusal(key_pem)
    assert refused.code == "csr_malformed" and "PRIVATE KEY" in refused.message
    body_line = key_pem.splitlines()[1]
    assert body_line not in refused.message and body_line not in str(refused.details)


def test_two_requests_in_one_paste_are_refused():
    assert "more than one" in refusal(pem(make_csr(key("ec-p256"))) * 2).message


@pytest.mark.parametrize("cut", ["half_the_pem", "a_body_line", "the_der_tail"])
def test_a_truncated_request_is_malformed(cut):
    text = pem(make_csr(key("rsa-2048")))
    if cut == "half_the_pem":
        value = text[:len(text) // 2]                       # no END line
    elif cut == "a_body_line":
        lines = text.splitlines()
        value = "\n".join(lines[:3] + lines[4:])            # END line kept; the DER inside is short
    else:
        value = make_csr(key("rsa-2048"))[:-20]
    assert refusal(value).code == "csr_malformed"


@pytest.mark.parametrize("value", [
    "-----BEGIN CERTIFICATE REQUEST-----\nMIIB!!notbase64**\n-----END CERTIFICATE REQUEST-----\n",
    "-----BEGIN CERTIFICATE REQUEST-----\nMIIBCg=\n-----END CERTIFICATE REQUEST-----\n",   # bad padding
    "MIIB$$$$",
])
def test_wrong_base64_is_malformed(value):
    refused = refusal(value)
    assert refused.code == "csr_malformed" and "base64" in refused.details["csr"][0]


# ---- signature ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["rsa-2048", "ec-p256"])
def test_a_flipped_signature_byte_is_refused(kind):
    der = make_csr(key(kind))
    parse_csr(der)                                          # the untouched request is fine
    assert refusal(flip_last_byte(der)).code == "csr_signature_invalid"


def test_a_request_altered_after_signing_is_refused():
    der = make_csr(key("ec-p384"), dns_names=("www.example.com",))
    assert refusal(der.replace(b"www.example.com", b"www.exbmple.com")).code == "csr_signature_invalid"


# ---- keys ---------------------------------------------------------------------------------------------------------

def test_rsa_1024_is_weak():
    refused = refusal(make_csr(key("rsa-1024")))
    assert refused.code == "csr_key_weak" and "1024 bits" in refused.message


def test_an_rsa_modulus_that_is_not_a_multiple_of_8_is_weak():
    der = make_csr(key("rsa-2050"))                         # cryptography makes a real 2050-bit key
    assert x509.load_der_x509_csr(der).is_signature_valid   # so the key, not the signature, is what is refused
    refused = refusal(der)
    assert refused.code == "csr_key_weak" and "2050 bits" in refused.message and "multiple of 8" in refused.message


@pytest.mark.parametrize("exponent", [65538, 2, 1])
def test_an_even_or_tiny_rsa_exponent_is_weak(exponent):
    der = make_csr(key("rsa-2048"))
    refused = refusal(with_rsa_numbers(der, key("rsa-2048").public_key().public_numbers().n, exponent))
    assert refused.code == "csr_key_weak" and f"exponent {exponent}" in refused.message


def test_a_weak_key_is_reported_before_a_bad_signature():
    assert refusal(flip_last_byte(make_csr(key("rsa-1024")))).code == "csr_key_weak"


@pytest.mark.parametrize("kind,named", [("ec-secp256k1", "ec-secp256k1"), ("ec-p192", "ec-secp192r1"),
                                        ("ed25519", "ed25519"), ("dsa-2048", "dsa")])
def test_other_curves_and_algorithms_are_unsupported(kind, named):
    der = make_csr(key(kind))
    refused = refusal(der)
    assert refused.code == "csr_key_unsupported" and named in refused.message
    assert refusal(flip_last_byte(der)).code == "csr_key_unsupported"    # judged before the signature


# ---- names --------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["foo_bar.example.com", "co.uk", "*.*.example.com", "com"])
def test_a_bad_name_in_the_request_is_refused_and_named(name):
    refused = refusal(make_csr(key("ec-p256"), cn=None, dns_names=("www.example.com", name)))
    assert refused.code == "csr_bad_name" and name in refused.message


def test_ip_address_entries_in_the_request_are_read_as_names():
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([])).add_extension(
        x509.SubjectAlternativeName([x509.DNSName("Host.example.com"), x509.IPAddress(ipaddress.ip_address("192.0.2.7")),
                                     x509.IPAddress(ipaddress.ip_address("2001:DB8::7"))]), critical=False)
    parsed = parse_csr(builder.sign(key("ec-p256"), hashes.SHA256()).public_bytes(DER))
    assert parsed.ip_addresses == ("192.0.2.7", "2001:db8::7")
    assert parsed.names == ("host.example.com", "192.0.2.7", "2001:db8::7")


def test_internal_names_and_single_labels_are_names_here():
    parsed = parse_csr(make_csr(key("ec-p256"), cn=None, dns_names=("intranet", "nas.corp.internal", "*.lan")))
    assert parsed.dns_names == ("intranet", "nas.corp.internal", "*.lan")
