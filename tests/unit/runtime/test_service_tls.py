"""The EST listener's TLS (services/runtime/listener.ServiceTls): nothing is served until a certificate is
installed; once it is, client certificates are asked for, not required, and verified against the CAs given."""
import datetime
import ssl

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from services.runtime.listener import ServiceTls

PEM = serialization.Encoding.PEM


def _certificate(name: str, key, issuer=None, issuer_key=None, ca=False) -> x509.Certificate:
    now = datetime.datetime.now(datetime.timezone.utc)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer or subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=1)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .sign(issuer_key or key, hashes.SHA256()))


def _pair():
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    root = _certificate("Test Root", ca_key, ca=True)
    leaf = _certificate("localhost", key, root.subject, ca_key)
    key_pem = key.private_bytes(PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    return key_pem, leaf.public_bytes(PEM).decode() + root.public_bytes(PEM).decode(), root.public_bytes(PEM).decode()


def test_no_context_until_a_certificate_is_installed():
    assert ServiceTls().context() is None


def test_an_installed_certificate_asks_for_client_certificates_without_requiring_them():
    tls = ServiceTls()
    key_pem, chain_pem, root_pem = _pair()
    tls.install(key_pem, chain_pem, [root_pem], ca_fingerprints=("a",))
    first = tls.context()
    assert first is not None and first.verify_mode == ssl.CERT_OPTIONAL
    assert first.minimum_version == ssl.TLSVersion.TLSv1_2 and tls.ca_fingerprints == ("a",)
    key_pem, chain_pem, root_pem = _pair()
    tls.install(key_pem, chain_pem, [root_pem], ca_fingerprints=("b",))     # a renewal: the new one is served
    assert tls.context() is not first and tls.ca_fingerprints == ("b",)
