"""Keys the server makes for a person (issue 15: "the browser generates the key, or the server does"), how they
are kept until the person downloads them, and the PKCS#12 they leave in.

A server-made key is P-256 (contracts.certificates.SERVER_KEY_TYPES; RSA-2048 keygen runs ~32/s per core, so RSA
would need a pool made ahead). It is kept sealed, never in clear: AES-256-GCM under a key derived by scrypt from
the invitation link's token and the password the person chose. The token is in the person's mail only (enrollment
keeps its sha256, and forgets the token itself once the invitation is answered), so a copy of the database (or a
backup) opens no key — not even one whose PKCS#12 password is empty, which an account may allow. The person's
download unseals it with the same two secrets and wraps it in a PKCS#12 under the same password
(PBES2/AES-256-CBC, HMAC-SHA256: what OpenSSL 3 and current browsers and mail clients read). scrypt and AES-GCM
are cryptography's; the sealed form is a small JSON of our own (three base64 fields), because no standard format
binds a key to two secrets."""
from __future__ import annotations

import base64
import hashlib
import os

from cryptography import x509
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from contracts.errors import Forbidden

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2 ** 14, 8, 1       # ~16 MiB and some tens of ms per derivation
PKCS12_ROUNDS = 200_000


def make_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def csr_for(key, common_name: str) -> str:
    """A CSR for `key` (the CA copies nothing of it but the key; the CN only makes it readable)."""
    csr = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64])])).sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM).decode()


def _kek(salt: bytes, token: str, password: str) -> bytes:
    secret = token.encode() + b"\x00" + password.encode()
    return Scrypt(salt=salt, length=32, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P).derive(secret)


def seal(key, token: str, password: str, cert_id: str) -> dict:
    salt, nonce = os.urandom(16), os.urandom(12)
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    sealed = AESGCM(_kek(salt, token, password)).encrypt(nonce, der, cert_id.encode())
    return {"v": 1, "salt": _b64(salt), "nonce": _b64(nonce), "sealed": _b64(sealed)}


def unseal(kept: dict, token: str, password: str, cert_id: str):
    """The key, or 403 `password_wrong` when the password (with this link) does not open it."""
    try:
        der = AESGCM(_kek(_unb64(kept["salt"]), token, password)).decrypt(
            _unb64(kept["nonce"]), _unb64(kept["sealed"]), cert_id.encode())
    except InvalidTag:
        raise Forbidden("the password does not open this key (it is the one chosen when the key was made)",
                        {"password": ["wrong"]}, code="password_wrong") from None
    return serialization.load_der_private_key(der, None)


def pkcs12_of(key, certificate_pem: str, chain_pem: list[str], password: str, friendly_name: str) -> bytes:
    """Key, certificate and chain as PKCS#12 under `password` (an empty one: no encryption, as the person chose
    where the account allows it)."""
    certificate = x509.load_pem_x509_certificate(certificate_pem.encode())
    chain = [x509.load_pem_x509_certificate(p.encode()) for p in chain_pem]
    if password:
        encryption = (serialization.PrivateFormat.PKCS12.encryption_builder().kdf_rounds(PKCS12_ROUNDS)
                      .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC).hmac_hash(hashes.SHA256())
                      .build(password.encode()))
    else:
        encryption = serialization.NoEncryption()
    return pkcs12.serialize_key_and_certificates(friendly_name.encode()[:64], key, certificate, chain or None,
                                                 encryption)


def key_ref(cert_id: str, public_key) -> str:
    """Where a server-made key of this request is kept: the request and its key's SubjectPublicKeyInfo digest
    (two answers racing keep two keys; the certificate names the one that counts)."""
    spki = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return f"{cert_id}:{hashlib.sha256(spki).hexdigest()[:16]}"


def key_ref_of_certificate(cert_id: str, certificate_pem: str) -> str:
    """key_ref of the key an issued certificate certifies ("" when there is no certificate: found nowhere)."""
    if not certificate_pem:
        return ""
    return key_ref(cert_id, x509.load_pem_x509_certificate(certificate_pem.encode()).public_key())


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: str) -> bytes:
    return base64.b64decode(text)
