"""A certificate in the download formats (contracts.enrollment.DOWNLOAD_FORMATS; PKCS#12 is keys.py's), for
SSL and the other types alike."""
from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs7


def render(fmt: str, certificate_pem: str, chain_pem: list[str]) -> bytes:
    certificate = x509.load_pem_x509_certificate(certificate_pem.encode())
    if fmt == "pem":
        return certificate_pem.encode()
    if fmt == "der":
        return certificate.public_bytes(serialization.Encoding.DER)
    if fmt == "chain":
        return (certificate_pem + (chain_pem[0] if chain_pem else "")).encode()
    if fmt == "fullchain":
        return (certificate_pem + "".join(chain_pem)).encode()
    chain = [certificate] + [x509.load_pem_x509_certificate(p.encode()) for p in chain_pem]
    return pkcs7.serialize_certificates(chain, serialization.Encoding.DER)
