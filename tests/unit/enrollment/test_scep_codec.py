"""scep_codec: what a device's pkiMessage must be for the server to take it, and what the device reads in the
CertRep. Messages are built as a device builds them (request_message: the CSR encrypted to the RA certificate,
signed with the device's key and the SCEP attributes) and opened as the device opens the answer (with its own key).
Keys and certificates are made at test time. The real clients (scepclient, certmonger) are in tests/e2e/test_scep.py.
"""
import datetime
import functools

import pytest
from asn1crypto import cms, core
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.decrepit.ciphers.modes import OFB
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms
from cryptography.x509.oid import AttributeOID, NameOID

from services.enrollment import scep_codec as sc
from services.enrollment.scep_service import _Answer, scep_query

NOW = datetime.datetime(2026, 12, 2, 12, 0, tzinfo=datetime.timezone.utc)
DER = serialization.Encoding.DER


@functools.cache
def rsa_key(name: str) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def certificate(key, cn: str, issuer: str | None = None, serial: int = 1000, issuer_key=None) -> bytes:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    issuer_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]) if issuer else subject
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer_name).public_key(key.public_key())
            .serial_number(serial).not_valid_before(NOW - datetime.timedelta(days=1))
            .not_valid_after(NOW + datetime.timedelta(days=30))
            .sign(issuer_key or key, hashes.SHA256())).public_bytes(DER)


def csr(key, cn: str = "printer-7", challenge: str | None = "s3cret-challenge") -> bytes:
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
    if challenge is not None:
        builder = builder.add_attribute(AttributeOID.CHALLENGE_PASSWORD, challenge.encode())
    return builder.sign(key, hashes.SHA256()).public_bytes(DER)


@pytest.fixture(scope="module")
def ra():
    """The server's RA: an RSA key and its certificate from the CA."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    key = rsa_key("ra")
    return key, certificate(key, "Certplane SCEP RA", issuer="Test Issuing CA", serial=77, issuer_key=ca_key)


@pytest.fixture(scope="module")
def device():
    """A device before its first certificate: its key and the self-signed certificate it signs PKCSReq with."""
    key = rsa_key("device")
    return key, certificate(key, "printer-7")


def pkcs_req(ra, device, transaction_id="tx-AAAA", **options) -> bytes:
    key, cert = device
    return sc.request_message(sc.MessageType.PKCS_REQ, transaction_id, csr(key), key, cert, ra[1], NOW, **options)


# ---- requests the server takes ----------------------------------------------------------------------------------
def test_a_pkcsreq_is_read_with_its_csr_challenge_transaction_and_signer(ra, device):
    request = sc.read_request(pkcs_req(ra, device), *ra)
    assert request.message.message_type == sc.MessageType.PKCS_REQ
    assert request.message.transaction_id == "tx-AAAA" and len(request.message.sender_nonce) == 16
    assert request.csr_der == csr(device[0]) and request.challenge_password == "s3cret-challenge"
    assert request.message.signer_der == device[1] and request.message.signing_time == NOW
    assert x509.load_pem_x509_csr(request.csr_pem.encode()).subject.rfc4514_string() == "CN=printer-7"


def test_a_csr_without_challenge_is_read_with_none(ra, device):
    key, cert = device
    message = sc.request_message(sc.MessageType.PKCS_REQ, "t", csr(key, challenge=None), key, cert, ra[1], NOW)
    assert sc.read_request(message, *ra).challenge_password is None


@pytest.mark.parametrize("cipher", ["aes128_cbc", "aes192_cbc", "aes256_cbc", "tripledes_3key", "des"])
@pytest.mark.parametrize("key_transport", ["rsaes_pkcs1v15", "rsaes_oaep"])
@pytest.mark.parametrize("digest", ["sha1", "sha256", "sha512"])
def test_every_offered_algorithm_reaches_the_csr_and_the_device_opens_the_certificate(ra, device, cipher,
                                                                                      key_transport, digest):
    request = sc.read_request(pkcs_req(ra, device, cipher=cipher, key_transport=key_transport, digest=digest), *ra)
    assert request.cipher == cipher and request.message.digest_algorithm == digest
    issued = certificate(device[0], "printer-7", issuer="Test Issuing CA", serial=4242, issuer_key=ra[0])
    answer = sc.cert_rep(request.message, sc.PkiStatus.SUCCESS, *ra, NOW, certificates=[issued],
                         cipher=sc.reply_cipher(request.cipher))
    rep = sc.read_pki_message(answer)
    sc.check_signature(rep)                                    # signed by the RA, as the device checks
    assert rep.signer_der == ra[1] and rep.digest_algorithm == digest
    plaintext, reply_cipher = sc.open_envelope(rep, *device)   # encrypted to the device's signer certificate
    assert sc.certificates_of(plaintext) == [issued]
    assert reply_cipher == ("aes128_cbc" if cipher == "des" else cipher)   # single DES is read, never written


def test_a_renewal_is_signed_by_the_current_certificate(ra, device):
    current = certificate(device[0], "printer-7", issuer="Test Issuing CA", serial=4242, issuer_key=ra[0])
    new_key = rsa_key("device-next")
    message = sc.request_message(sc.MessageType.RENEWAL_REQ, "tx-R", csr(new_key, challenge=None), device[0],
                                 current, ra[1], NOW)
    request = sc.read_request(message, *ra)
    assert request.message.message_type == sc.MessageType.RENEWAL_REQ
    assert request.message.signer_der == current and request.csr_der == csr(new_key, challenge=None)


def test_certpoll_names_the_issuer_and_subject(ra, device):
    ra_cert = x509.load_der_x509_certificate(ra[1])
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "printer-7")]).public_bytes()
    content = sc.issuer_and_subject(ra_cert.issuer.public_bytes(), subject)
    message = sc.request_message(sc.MessageType.CERT_POLL, "tx-AAAA", content, device[0], device[1], ra[1], NOW)
    request = sc.read_request(message, *ra)
    assert request.message.message_type == sc.MessageType.CERT_POLL and request.csr_der is None
    assert request.issuer_der == ra_cert.issuer.public_bytes() and request.subject_der == subject


def test_getcert_names_the_issuer_and_serial(ra, device):
    ids = cms.IssuerAndSerialNumber({"issuer": asn1_x509.Certificate.load(ra[1]).issuer, "serial_number": 4242})
    message = sc.request_message(sc.MessageType.GET_CERT, "tx-G", ids.dump(), device[0], device[1], ra[1], NOW)
    request = sc.read_request(message, *ra)
    assert request.serial == 4242 and request.issuer_der == asn1_x509.Certificate.load(ra[1]).issuer.dump()


def test_go_pkcs7s_constructed_encrypted_content_is_read(ra, device):
    """scepclient's pkcs7 writes encryptedContent as a definite-length constructed OCTET STRING (BER)."""
    key, cert = device
    plain = sc.envelope(csr(key), ra[1])
    info = cms.ContentInfo.load(plain)
    encrypted = info["content"]["encrypted_content_info"]
    ciphertext = encrypted["encrypted_content"].native
    chunks = b"".join(core.OctetString(ciphertext[i:i + 100]).dump() for i in range(0, len(ciphertext), 100))
    constructed = b"\xa0" + _length(len(chunks)) + chunks
    fields = encrypted["content_type"].dump() + encrypted["content_encryption_algorithm"].dump() + constructed
    ber_info = b"\x30" + _length(len(fields)) + fields
    enveloped = info["content"]
    body = enveloped["version"].dump() + enveloped["recipient_infos"].dump() + ber_info
    inner = b"\x30" + _length(len(body)) + body
    wrapped = cms.ContentType("enveloped_data").dump() + b"\xa0" + _length(len(inner)) + inner
    ber = b"\x30" + _length(len(wrapped)) + wrapped
    message = sc.request_message(sc.MessageType.PKCS_REQ, "tx-B", b"", key, cert, ra[1], NOW, enveloped=ber)
    assert sc.read_request(message, *ra).csr_der == csr(key)


# ---- the CertRep --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("status, fail_info", [(sc.PkiStatus.PENDING, None),
                                               (sc.PkiStatus.FAILURE, sc.FailInfo.BAD_REQUEST),
                                               (sc.PkiStatus.FAILURE, sc.FailInfo.BAD_CERT_ID)])
def test_a_certrep_answers_the_transaction_with_a_new_nonce_and_its_status(ra, device, status, fail_info):
    request = sc.read_request(pkcs_req(ra, device), *ra).message
    answer = sc.cert_rep(request, status, *ra, NOW, fail_info=fail_info, reason="the challenge is wrong")
    rep = sc.read_pki_message(answer)
    sc.check_signature(rep)
    assert rep.message_type == sc.MessageType.CERT_REP and rep.transaction_id == request.transaction_id
    assert rep.recipient_nonce == request.sender_nonce and rep.sender_nonce != request.sender_nonce
    assert rep.pki_status == status and rep.fail_info == fail_info
    assert rep.fail_info_text == ("the challenge is wrong" if fail_info else None)
    assert rep.content is None                                   # nothing encrypted: nothing issued


def test_getcacert_holds_every_certificate_once(ra, device):
    held = sc.certificates_of(sc.degenerate([ra[1], device[1]]))
    assert sorted(held) == sorted([ra[1], device[1]])            # a SET OF: DER's order


# ---- refused: a CertRep FAILURE with the reason ---------------------------------------------------------------
def test_a_tampered_signed_attribute_is_bad_message_check(ra, device):
    tampered = pkcs_req(ra, device, transaction_id="tx-AAAA").replace(b"tx-AAAA", b"tx-BBBB")
    with pytest.raises(sc.Refused) as refused:
        sc.read_request(tampered, *ra)
    assert refused.value.fail_info == sc.FailInfo.BAD_MESSAGE_CHECK and "signature" in refused.value.reason
    assert refused.value.message.transaction_id == "tx-BBBB"      # still answerable


def test_a_tampered_signature_is_bad_message_check(ra, device):
    message = pkcs_req(ra, device)
    signature = cms.ContentInfo.load(message)["content"]["signer_infos"][0]["signature"].native
    tampered = message.replace(signature, signature[:-1] + bytes([signature[-1] ^ 1]))
    with pytest.raises(sc.Refused) as refused:
        sc.read_request(tampered, *ra)
    assert refused.value.fail_info == sc.FailInfo.BAD_MESSAGE_CHECK


def test_content_swapped_under_the_signature_is_bad_message_check(ra, device):
    key, cert = device
    message = pkcs_req(ra, device)
    signed = cms.ContentInfo.load(message)
    other = sc.envelope(csr(key, cn="someone-else"), ra[1])
    signed["content"]["encap_content_info"] = {"content_type": "data", "content": other}
    with pytest.raises(sc.Refused) as refused:
        sc.read_request(signed.dump(force=True), *ra)
    assert refused.value.fail_info == sc.FailInfo.BAD_MESSAGE_CHECK and "messageDigest" in refused.value.reason


def test_a_message_for_another_ra_is_bad_message_check(ra, device):
    other_key = rsa_key("other-ra")
    other = certificate(other_key, "Other RA", issuer="Other CA", serial=5)
    with pytest.raises(sc.Refused) as refused:
        sc.read_request(pkcs_req((other_key, other), device), *ra)
    assert refused.value.fail_info == sc.FailInfo.BAD_MESSAGE_CHECK and "RA certificate" in refused.value.reason


def test_the_wrong_ra_key_does_not_open_the_envelope(ra, device):
    """The same issuer and serial as the RA's certificate, another key: the envelope does not decrypt."""
    impostor_key = rsa_key("impostor")
    impostor = certificate(impostor_key, "Certplane SCEP RA", issuer="Test Issuing CA", serial=77)
    with pytest.raises(sc.Refused) as refused:
        sc.read_request(pkcs_req((impostor_key, impostor), device), *ra)
    assert refused.value.fail_info == sc.FailInfo.BAD_MESSAGE_CHECK and "decrypt" in refused.value.reason


def test_an_ec_signer_is_bad_alg(ra):
    key = ec.generate_private_key(ec.SECP256R1())
    cert = certificate(key, "ec-device")
    message = sc.request_message(sc.MessageType.PKCS_REQ, "tx-E", csr(key), key, cert, ra[1], NOW)
    with pytest.raises(sc.Refused) as refused:
        sc.read_request(message, *ra)
    assert refused.value.fail_info == sc.FailInfo.BAD_ALG and "RSA" in refused.value.reason


def test_a_content_cipher_not_offered_is_bad_alg(ra, device):
    key, cert = device
    content_key, iv = b"k" * 16, b"i" * 16
    encryptor = Cipher(algorithms.AES(content_key), OFB(iv)).encryptor()
    ofb = cms.ContentInfo.load(sc.envelope(csr(key), ra[1]))
    ofb["content"]["encrypted_content_info"] = {
        "content_type": "data", "content_encryption_algorithm": {"algorithm": "aes128_ofb", "parameters": iv},
        "encrypted_content": encryptor.update(csr(key)) + encryptor.finalize()}
    message = sc.request_message(sc.MessageType.PKCS_REQ, "tx-O", b"", key, cert, ra[1], NOW,
                                 enveloped=ofb.dump(force=True))
    with pytest.raises(sc.Refused) as refused:
        sc.read_request(message, *ra)
    assert refused.value.fail_info == sc.FailInfo.BAD_ALG and "aes128_ofb" in refused.value.reason


def test_an_unknown_message_type_is_bad_request(ra, device):
    key, cert = device
    message = sc.request_message(99, "tx-U", csr(key), key, cert, ra[1], NOW)
    with pytest.raises(sc.Refused) as refused:
        sc.read_request(message, *ra)
    assert refused.value.fail_info == sc.FailInfo.BAD_REQUEST


def test_an_envelope_without_a_csr_is_bad_request(ra, device):
    key, cert = device
    message = sc.request_message(sc.MessageType.PKCS_REQ, "tx-N", b"not a csr", key, cert, ra[1], NOW)
    with pytest.raises(sc.Refused) as refused:
        sc.read_request(message, *ra)
    assert refused.value.fail_info == sc.FailInfo.BAD_REQUEST and "PKCS#10" in refused.value.reason


def test_a_signing_time_far_off_is_bad_time(ra, device):
    message = sc.read_pki_message(pkcs_req(ra, device))
    sc.check_signing_time(message, NOW + datetime.timedelta(hours=23), datetime.timedelta(hours=24))
    with pytest.raises(sc.Refused) as refused:
        sc.check_signing_time(message, NOW + datetime.timedelta(hours=25), datetime.timedelta(hours=24))
    assert refused.value.fail_info == sc.FailInfo.BAD_TIME


# ---- unreadable: no CertRep possible (HTTP 400) ------------------------------------------------------------------
@pytest.mark.parametrize("der, reason", [(b"", "empty"), (b"\x30\x03\x02\x01\x01", "SignedData"),
                                         (b"\x00" * 70000, "larger")])
def test_what_is_not_a_pkimessage_is_unreadable_with_the_reason(der, reason):
    with pytest.raises(sc.Unreadable, match=reason):
        sc.read_pki_message(der)


def test_a_degenerate_pkcs7_has_no_signer_to_answer(ra):
    with pytest.raises(sc.Unreadable, match="one signer"):
        sc.read_pki_message(sc.degenerate([ra[1]]))


def test_a_message_without_transaction_id_is_unreadable(ra, device):
    key, cert = device
    attributes = [("message_type", sc._ScepString({"printable": "19"})),
                  ("sender_nonce", core.OctetString(b"n" * 16))]
    message = sc.sign_message(attributes, sc.envelope(csr(key), ra[1]), key, cert, NOW)
    with pytest.raises(sc.Unreadable, match="transactionID"):
        sc.read_pki_message(message)


def test_a_message_whose_signer_certificate_is_missing_is_unreadable(ra, device):
    signed = cms.ContentInfo.load(pkcs_req(ra, device))
    signed["content"]["certificates"] = [asn1_x509.Certificate.load(ra[1])]
    with pytest.raises(sc.Unreadable, match="signer's certificate"):
        sc.read_pki_message(signed.dump(force=True))


# ---- GET's query ----------------------------------------------------------------------------------------------
def test_the_query_keeps_a_bare_plus_of_the_base64_message():
    assert scep_query("operation=PKIOperation&message=ab+c%2Bd%3D")["message"] == "ab+c+d="
    assert scep_query("operation=GetCACert&message=my+ca")["operation"] == "GetCACert"
    with pytest.raises(_Answer):
        scep_query("operation=GetCACaps&operation=GetCACert")


def _length(n: int) -> bytes:
    if n < 128:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw

