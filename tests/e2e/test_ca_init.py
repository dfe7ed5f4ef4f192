"""`certplane ca init`: the operator makes the root and issuing CA before the first start; the ca service then
issues from those (it makes none of its own), and running the command again changes nothing."""
import hashlib
import json
import sqlite3

import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tests.e2e.conftest import Embedded


def ca_init(cp: Embedded, *args) -> dict:
    answer = cp.cli("ca", "init", *args)
    assert answer.returncode == 0, answer.stdout + answer.stderr
    return json.loads(answer.stdout)


def stored_ca_certificates(var_dir) -> dict[str, x509.Certificate]:
    """The CA certificates in the ca service's read model (SQLite under the var directory), by kind."""
    with sqlite3.connect(f"file:{var_dir / 'ca.sqlite3'}?mode=ro", uri=True, timeout=10) as conn:
        # the default hierarchy's two (the S/MIME and code-signing issuing CAs beside them are checked apart)
        rows = conn.execute("SELECT kind, certificate_pem FROM cas WHERE name IN ('Certplane Root CA', "
                            "'Certplane Issuing CA')").fetchall()
    return {kind: x509.load_pem_x509_certificate(pem.encode()) for kind, pem in rows}


def test_ca_init_makes_the_hierarchy_once_and_the_ca_service_issues_from_it(tmp_path):
    cp = Embedded(tmp_path / "var", tmp_path)
    first = ca_init(cp)
    assert first["created"] is True
    assert first["root"]["subject"] == "CN=Certplane Root CA,O=Certplane,C=US"
    assert first["issuing"]["subject"] == "CN=Certplane Issuing CA,O=Certplane,C=US"
    assert first["root"]["key_algorithm"] == first["issuing"]["key_algorithm"] == "ec-p256"
    certificates = stored_ca_certificates(cp.var_dir)
    for kind in ("root", "issuing"):
        assert first[kind]["sha256_fingerprint"] == certificates[kind].fingerprint(hashes.SHA256()).hex()
        assert isinstance(certificates[kind].public_key(), ec.EllipticCurvePublicKey)
        assert certificates[kind].public_key().curve.name == "secp256r1"
    assert (cp.var_dir / "ca-kek").stat().st_mode & 0o077 == 0        # the key that wraps the CA keys: private

    again = ca_init(cp)
    assert again["created"] is False and "existed" in again["message"]
    assert {k: again[k] for k in ("root", "issuing")} == {k: first[k] for k in ("root", "issuing")}

    cp.start()
    try:
        cas = cp.api("GET", "/api/v1/cas").json()["items"]
        assert {(ca["ca_id"], ca["kind"], ca["sha256_fingerprint"]) for ca in cas} >= {
            (first[kind]["ca_id"], kind, first[kind]["sha256_fingerprint"]) for kind in ("root", "issuing")}
        assert sorted(ca["name"] for ca in cas) == ["Certplane Code Signing CA", "Certplane Issuing CA",
                                                    "Certplane Root CA", "Certplane S/MIME CA"]
        assert sorted(ca["default"] for ca in cas if ca["kind"] == "issuing") == [False, False, True]
        served = requests.get(f"{cp.api.base_url}/ca/{first['issuing']['ca_id']}.crt", timeout=30)
        assert hashlib.sha256(served.content).hexdigest() == first["issuing"]["sha256_fingerprint"]
    finally:
        cp.stop()
    after_start = ca_init(cp)                                 # the service's first start added nothing either
    assert after_start["created"] is False and after_start["root"] == first["root"]


def test_ca_init_with_p384_makes_p384_cas(tmp_path):
    cp = Embedded(tmp_path / "var", tmp_path)
    made = ca_init(cp, "--key-algorithm", "ec-p384")
    assert made["created"] is True and made["root"]["key_algorithm"] == made["issuing"]["key_algorithm"] == "ec-p384"
    certificates = stored_ca_certificates(cp.var_dir)
    for certificate in certificates.values():
        assert certificate.public_key().curve.name == "secp384r1"
        assert isinstance(certificate.signature_hash_algorithm, hashes.SHA384)      # BR 7.1.3.2 for P-384
    certificates["issuing"].verify_directly_issued_by(certificates["root"])
    other = ca_init(cp, "--key-algorithm", "rsa-3072")        # exists already: kept, and said so
    assert other["created"] is False and other["root"]["key_algorithm"] == "ec-p384"
    assert "rsa-3072 was not applied" in other["warning"]


def test_ca_init_with_rsa_4096(tmp_path):
    cp = Embedded(tmp_path / "var", tmp_path)
    assert ca_init(cp, "--key-algorithm", "rsa-4096")["issuing"]["key_algorithm"] == "rsa-4096"
    for certificate in stored_ca_certificates(cp.var_dir).values():
        assert isinstance(certificate.public_key(), rsa.RSAPublicKey) and certificate.public_key().key_size == 4096


def test_an_unknown_algorithm_is_refused_with_exit_2_and_nothing_is_made(tmp_path):
    cp = Embedded(tmp_path / "var", tmp_path)
    answer = cp.cli("ca", "init", "--key-algorithm", "p-521")
    assert answer.returncode == 2
    assert "invalid choice: 'p-521'" in answer.stderr and "ec-p256, ec-p384, rsa-3072, rsa-4096" in \
        answer.stderr.replace("'", "")
    assert not (cp.var_dir / "ca.sqlite3").exists()


def test_a_bad_algorithm_setting_is_refused(tmp_path):
    cp = Embedded(tmp_path / "var", tmp_path, CERTPLANE_CA_KEY_ALGORITHM="ec-p192")
    answer = cp.cli("ca", "init")
    assert answer.returncode == 1 and "CERTPLANE_CA_KEY_ALGORITHM" in answer.stderr and "ec-p192" in answer.stderr
    assert not (cp.var_dir / "ca.sqlite3").exists()


def test_distributed_mode_needs_the_kek(tmp_path):
    cp = Embedded(tmp_path / "var", tmp_path, AMQP_URI="amqp://guest:guest@127.0.0.1:5672/",
                  CERTPLANE_DATABASE_URL=f"sqlite:///{tmp_path / 'ca.sqlite3'}")
    answer = cp.cli("ca", "init")
    assert answer.returncode == 1 and "distributed mode needs CERTPLANE_CA_KEK" in answer.stderr
    assert not (tmp_path / "ca.sqlite3").exists()            # refused before anything was written
