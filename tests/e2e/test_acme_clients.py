"""certbot and lego, unmodified, against Certplane's ACME server (issue 14): EAB registration with an ACME account
made through the REST API, then http-01 (certbot standalone, lego), dns-01 (certbot's manual hook, lego's exec
provider, both publishing to the test DNS server), tls-alpn-01 (lego); certbot renews and revokes.

Each certificate a client gets is checked as a PKI administrator would: `openssl verify` against Certplane's root
with the chain the client saved, pkilint's RFC 5280 linter clean at ERROR, in the SSL inventory of the ACME
account's organization with requested_by `acme:<acme_account_id>`; certbot's revocation shows in OCSP and the CRL.
The world (TLS listener, DNS, ports, the account) is tests/e2e/acme_env.py's, shared by the session."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtensionOID

from tests.support import unavailable

VENV_BIN = Path(sys.executable).parent
CERTBOT = str(VENV_BIN / "certbot")
LEGO = "/usr/bin/lego"
CLIENT_TIMEOUT = 240


# ---- running the clients --------------------------------------------------------------------------------------

def run(args: list[str], env: dict, what: str, logs: Path | None = None, cp=None) -> subprocess.CompletedProcess:
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=CLIENT_TIMEOUT)
    if done.returncode != 0:
        parts = [f"{what} exited {done.returncode}: {' '.join(args)}", "--- stdout", done.stdout[-4000:],
                 "--- stderr", done.stderr[-6000:]]
        log = logs / "letsencrypt.log" if logs else None
        if log and log.exists():
            parts += ["--- certbot log (end)", log.read_text(errors="replace")[-6000:]]
        if cp is not None:
            errors = [line for line in cp.process.output().splitlines()
                      if '"level": "error"' in line or '"level": "warning"' in line or "Traceback" in line]
            parts += ["--- Certplane errors and warnings (last 25)", *errors[-25:]]
        pytest.fail("\n".join(parts), pytrace=False)
    return done


def certbot(acme_env, home: Path, *args: str) -> subprocess.CompletedProcess:
    common = ["--config-dir", str(home / "config"), "--work-dir", str(home / "work"), "--logs-dir",
              str(home / "logs"), "--non-interactive", "--server", acme_env.directory_url]
    return run([CERTBOT, *args, *common], acme_env.client_env(), f"certbot {args[0]}", home / "logs", acme_env.cp)


def certbot_register_args(acme_env) -> list[str]:
    return ["--agree-tos", "-m", "web-team@example.com", "--eab-kid", acme_env.eab_kid,
            "--eab-hmac-key", acme_env.eab_hmac_key]


def lego(acme_env, home: Path, name: str, *challenge: str, command: tuple[str, ...] = ("run",)
         ) -> subprocess.CompletedProcess:
    """`lego <global flags> <challenge flags> <command>`: run (obtain), renew --days N, revoke --reason R."""
    if not Path(LEGO).exists():
        unavailable("lego is not installed (apt-get install lego; .ci/run does)")
    return run([LEGO, "--server", acme_env.directory_url, "--eab", "--kid", acme_env.eab_kid,
                "--hmac", acme_env.eab_hmac_key, "--accept-tos", "--email", "web-team@example.com",
                "--path", str(home), "--domains", name, *challenge, *command],
               acme_env.client_env(), f"lego {command[0]}", None, acme_env.cp)


def certbot_files(home: Path, name: str) -> tuple[Path, Path]:
    live = home / "config" / "live" / name
    return live / "cert.pem", live / "chain.pem"


def lego_files(home: Path, name: str, tmp_path: Path) -> tuple[Path, Path]:
    """lego saves <name>.crt (the certificate and the chain) and <name>.issuer.crt."""
    bundle = x509.load_pem_x509_certificates((home / "certificates" / f"{name}.crt").read_bytes())
    leaf = tmp_path / f"{name}.leaf.pem"
    leaf.write_bytes(bundle[0].public_bytes(serialization.Encoding.PEM))
    return leaf, home / "certificates" / f"{name}.issuer.crt"


# ---- what an administrator checks ----------------------------------------------------------------------------

def openssl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["openssl", *args], capture_output=True, text=True, timeout=60)


def check_certificate(acme_env, leaf_path: Path, chain_path: Path, names: list[str],
                      acme_account_id: str | None = None) -> dict:
    """The certificate at `leaf_path` for `names`: verified against Certplane's root with `chain_path`, pkilint
    clean, in the inventory of the ACME account's organization requested by the account. Its inventory item."""
    leaf = x509.load_pem_x509_certificate(leaf_path.read_bytes())
    san = leaf.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value
    assert sorted(san.get_values_for_type(x509.DNSName)) == sorted(names)
    verified = openssl("verify", "-CAfile", str(acme_env.root_pem), "-untrusted", str(chain_path), str(leaf_path))
    assert verified.returncode == 0, verified.stdout + verified.stderr
    linted = subprocess.run([str(VENV_BIN / "lint_pkix_cert"), "lint", "-s", "ERROR", str(leaf_path)],
                            capture_output=True, text=True, timeout=120)
    assert linted.returncode == 0 and not linted.stdout.strip(), linted.stdout + linted.stderr
    serial = format(leaf.serial_number, "x")
    found = acme_env.api("GET", "/api/v1/ssl", params={"serial": serial, "organization_id": acme_env.org_id})
    assert found.status_code == 200, found.text
    items = [i for i in found.json()["items"] if int(i["serial"] or "0", 16) == leaf.serial_number]
    assert len(items) == 1, f"serial {serial} not in the inventory of {acme_env.org_id}: {found.json()}"
    item = items[0]
    assert item["organization_id"] == acme_env.org_id
    assert item["requested_by"] == f"acme:{acme_account_id or acme_env.account['acme_account_id']}", item
    assert item["status"] in ("issued", "downloaded"), item
    return item


def ocsp_status(acme_env, leaf_path: Path, issuer_path: Path) -> str:
    """`openssl ocsp` against /ocsp (the plain port: the same app as the https one the certificate names)."""
    result = openssl("ocsp", "-issuer", str(issuer_path), "-cert", str(leaf_path),
                     "-url", f"{acme_env.api.base_url}/ocsp", "-VAfile", str(issuer_path), "-resp_text")
    assert result.returncode == 0, result.stdout + result.stderr
    line = result.stdout.split(f"{leaf_path}:", 1)
    return line[1].splitlines()[0].strip() if len(line) == 2 else result.stdout


def wait_in_crl(acme_env, ca_id: str, serial: int, timeout: float = 60.0) -> x509.CertificateRevocationList:
    deadline = time.monotonic() + timeout
    while True:
        answer = requests.get(f"{acme_env.api.base_url}/crl/{ca_id}.crl", timeout=30)
        assert answer.status_code == 200, answer.text
        crl = x509.load_der_x509_crl(answer.content)
        if crl.get_revoked_certificate_by_serial_number(serial) is not None:
            return crl
        assert time.monotonic() < deadline, f"serial {serial:x} not in the CRL of {ca_id} after {timeout:g} s"
        time.sleep(0.5)


@pytest.fixture(scope="module", autouse=True)
def directory_answers(acme_env):
    answer = requests.get(f"{acme_env.api.base_url}/acme/directory", timeout=10)
    assert answer.status_code == 200, f"/acme/directory answers {answer.status_code}: {answer.text[:500]}"
    return answer.json()


# ---- the tests --------------------------------------------------------------------------------------------------

def test_the_directory_is_served_over_https_with_https_urls(acme_env, directory_answers):
    for key in ("newNonce", "newAccount", "newOrder", "revokeCert", "keyChange"):
        assert directory_answers[key].startswith(f"{acme_env.base_url}/acme/"), directory_answers
    assert directory_answers["meta"]["externalAccountRequired"] is True


def test_certbot_http01_obtains_renews_and_revokes(acme_env, tmp_path):
    name = acme_env.name("certbot-http")
    home = tmp_path / "certbot"
    certbot(acme_env, home, "certonly", "--standalone", "--preferred-challenges", "http-01",
            "--http-01-port", str(acme_env.http01_port), "-d", name, *certbot_register_args(acme_env))
    cert, chain = certbot_files(home, name)
    first = check_certificate(acme_env, cert, chain, [name])

    certbot(acme_env, home, "renew", "--cert-name", name, "--force-renewal", "--no-random-sleep-on-renew")
    renewed = check_certificate(acme_env, cert, chain, [name])
    assert renewed["serial"] != first["serial"] and renewed["ssl_id"] != first["ssl_id"]

    leaf = x509.load_pem_x509_certificate(cert.read_bytes())
    assert "good" in ocsp_status(acme_env, cert, chain)
    certbot(acme_env, home, "revoke", "--cert-path", str(cert), "--reason", "keycompromise",
            "--no-delete-after-revoke")
    deadline = time.monotonic() + 20
    while acme_env.api("GET", f"/api/v1/ssl/{renewed['ssl_id']}").json()["status"] != "revoked":
        assert time.monotonic() < deadline, "the inventory does not show the revocation"
        time.sleep(0.2)
    assert "revoked" in ocsp_status(acme_env, cert, chain)
    crl = wait_in_crl(acme_env, renewed["ca_id"], leaf.serial_number)
    entry = crl.get_revoked_certificate_by_serial_number(leaf.serial_number)
    reason = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
    assert reason == x509.ReasonFlags.key_compromise


def test_certbot_dns01_with_a_manual_hook(acme_env, tmp_path):
    name = acme_env.name("certbot-dns")
    home = tmp_path / "certbot"
    hook = acme_env.hook
    certbot(acme_env, home, "certonly", "--manual", "--preferred-challenges", "dns",
            "--manual-auth-hook", f"{hook} certbot-auth", "--manual-cleanup-hook", f"{hook} certbot-cleanup",
            "-d", name, *certbot_register_args(acme_env))
    assert any(host.rstrip(".") == f"_acme-challenge.{name}" for host, _ in acme_env.control.published)
    check_certificate(acme_env, *certbot_files(home, name), [name])


def test_lego_http01_obtains_renews_and_revokes(acme_env, tmp_path):
    name = acme_env.name("lego-http")
    home, http01 = tmp_path / "lego", ("--http", "--http.port", f":{acme_env.http01_port}")
    lego(acme_env, home, name, *http01)
    first = check_certificate(acme_env, *lego_files(home, name, tmp_path), [name])

    lego(acme_env, home, name, *http01, command=("renew", "--days", "3650", "--no-random-sleep"))  # due at once
    leaf, issuer = lego_files(home, name, tmp_path)
    renewed = check_certificate(acme_env, leaf, issuer, [name])
    assert renewed["serial"] != first["serial"]

    lego(acme_env, home, name, command=("revoke", "--reason", "4", "--keep"))   # superseded
    deadline = time.monotonic() + 20
    while acme_env.api("GET", f"/api/v1/ssl/{renewed['ssl_id']}").json()["status"] != "revoked":
        assert time.monotonic() < deadline, "the inventory does not show the revocation"
        time.sleep(0.2)
    assert "revoked" in ocsp_status(acme_env, leaf, issuer)
    assert acme_env.api("GET", f"/api/v1/ssl/{first['ssl_id']}").json()["status"] != "revoked"


def test_lego_tls_alpn01(acme_env, tmp_path):
    name = acme_env.name("lego-alpn")
    lego(acme_env, tmp_path / "lego", name, "--tls", "--tls.port", f":{acme_env.alpn_port}")
    check_certificate(acme_env, *lego_files(tmp_path / "lego", name, tmp_path), [name])


def test_lego_dns01_with_the_exec_provider(acme_env, tmp_path):
    name = acme_env.name("lego-dns")
    lego(acme_env, tmp_path / "lego", name, "--dns", "exec", "--dns.disable-cp",
         "--dns.resolvers", acme_env.dns.address)
    assert any(host.rstrip(".") == f"_acme-challenge.{name}" for host, _ in acme_env.control.published)
    check_certificate(acme_env, *lego_files(tmp_path / "lego", name, tmp_path), [name])


@pytest.fixture(scope="module")
def bad_nonce_env(tmp_path_factory):
    """A second Certplane that refuses 1 % of good nonces as badNonce (CERTPLANE_ACME_BAD_NONCE_RATE, tests only):
    RFC 8555 §6.5 clients retry with the nonce of the error answer."""
    from tests.e2e.acme_env import AcmeEnv
    env = AcmeEnv.start(tmp_path_factory.mktemp("acme-bad-nonce"), tmp_path_factory.mktemp("acme-bad-nonce-logs"),
                        CERTPLANE_ACME_BAD_NONCE_RATE="0.01")
    yield env
    env.stop()


def test_certbot_and_lego_succeed_when_one_nonce_in_a_hundred_is_refused(bad_nonce_env, tmp_path):
    for attempt in range(3):   # three certificates each: ~20 signed requests a run, so some meet a refusal
        name = bad_nonce_env.name("certbot-nonce")
        home = tmp_path / f"certbot-{attempt}"
        certbot(bad_nonce_env, home, "certonly", "--standalone", "--preferred-challenges", "http-01",
                "--http-01-port", str(bad_nonce_env.http01_port), "-d", name, *certbot_register_args(bad_nonce_env))
        check_certificate(bad_nonce_env, *certbot_files(home, name), [name])
        name = bad_nonce_env.name("lego-nonce")
        lego(bad_nonce_env, tmp_path / f"lego-{attempt}", name, "--http", "--http.port",
             f":{bad_nonce_env.http01_port}")
        check_certificate(bad_nonce_env, *lego_files(tmp_path / f"lego-{attempt}", name, tmp_path), [name])
