"""Key escrow's cryptography (issue 15): an organization's master key pair, and client keys encrypted to its
public key before they are stored. Pure functions over cryptography's primitives; no I/O.

- The master key is RSA-3072, made by the server (its private key leaves once, as PKCS#8 PEM encrypted with the
  administrator's passphrase — PBES2 as OpenSSL writes it — and is never stored) or by the administrator's own
  tools, who then sends only the public key.
- A client key is escrowed as RSA-OAEP(SHA-256) of a fresh AES-256 key and AES-256-GCM of the key's PKCS#8 DER
  under it, bound to the certificate's id (associated data): the usual hybrid construction, written here as three
  base64 fields because CMS EnvelopedData would need a hand-written ASN.1 encoder for the same result.
- Recovery decrypts with the master private key (the administrator sends it with its passphrase for this one
  operation; it is not kept or logged)."""
from __future__ import annotations

import base64
import hashlib
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from contracts.errors import Forbidden, InvalidRequest

MASTER_BITS = 3072
MIN_PASSPHRASE = 12
_OAEP = padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=None)


def new_master_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=MASTER_BITS)


def private_pem(key, passphrase: str) -> str:
    if len(passphrase or "") < MIN_PASSPHRASE:
        raise InvalidRequest(f"the passphrase that protects the master key needs at least {MIN_PASSPHRASE} "
                             "characters", {"passphrase": [f"at least {MIN_PASSPHRASE} characters"]},
                             code="passphrase_too_short")
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.BestAvailableEncryption(passphrase.encode())).decode()


def public_pem(key) -> str:
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def checked_public_key(pem: str) -> tuple[str, str]:
    """(normalised PEM, sha256 of the SubjectPublicKeyInfo) of an administrator's master public key: RSA of at
    least 3072 bits (400 `master_key_invalid` otherwise)."""
    try:
        key = serialization.load_pem_public_key(pem.encode())
    except (ValueError, TypeError):
        raise InvalidRequest("public_key_pem is not a PEM public key (SubjectPublicKeyInfo)",
                             {"public_key_pem": ["not a PEM public key"]}, code="master_key_invalid") from None
    if not isinstance(key, rsa.RSAPublicKey) or key.key_size < MASTER_BITS:
        raise InvalidRequest(f"the master key must be RSA of at least {MASTER_BITS} bits",
                             {"public_key_pem": [f"RSA ≥ {MASTER_BITS} bits"]}, code="master_key_invalid")
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    normal = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return normal, hashlib.sha256(der).hexdigest()


def escrow(private_key, master_public_pem: str, cert_id: str) -> dict:
    """`private_key` encrypted to the master public key (see the module's docstring)."""
    master = serialization.load_pem_public_key(master_public_pem.encode())
    data_key, nonce = AESGCM.generate_key(256), os.urandom(12)
    der = private_key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
    return {"v": 1, "wrapped_key": _b64(master.encrypt(data_key, _OAEP)), "nonce": _b64(nonce),
            "ciphertext": _b64(AESGCM(data_key).encrypt(nonce, der, cert_id.encode()))}


def load_master_key(pem: str, passphrase: str | None):
    """The administrator's master private key (403 `master_key_wrong` when it or its passphrase does not open)."""
    try:
        return serialization.load_pem_private_key(pem.encode(), passphrase.encode() if passphrase else None)
    except (ValueError, TypeError):
        raise Forbidden("the master private key (or its passphrase) does not open",
                        {"master_private_key_pem": ["does not open"]}, code="master_key_wrong") from None


def recover(escrowed: dict, master_key, cert_id: str):
    """The escrowed key, decrypted with the master private key (403 `master_key_wrong` for another key)."""
    try:
        data_key = master_key.decrypt(_unb64(escrowed["wrapped_key"]), _OAEP)
        der = AESGCM(data_key).decrypt(_unb64(escrowed["nonce"]), _unb64(escrowed["ciphertext"]), cert_id.encode())
    except (ValueError, InvalidTag, AttributeError, TypeError):
        raise Forbidden("this master key is not the one the key was escrowed to",
                        {"master_private_key_pem": ["another key"]}, code="master_key_wrong") from None
    return serialization.load_der_private_key(der, None)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: str) -> bytes:
    return base64.b64decode(text)
