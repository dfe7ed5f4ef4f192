"""The README's quick start, as a new user runs it: `make run` in a fresh copy of the repository (its own .venv and
var/, nothing installed by hand), then the README's "Try it" lines and its first-certificate lines, exactly as they
are written there — only the printed password, a new password and the port (a free one instead of 8080) put in —
run by bash in an empty directory. The certificate they produce must verify with openssl (also with both CRLs,
and no longer once it is revoked) and pass pkilint's RFC 5280 linter at ERROR."""
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.support import free_port

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
PYTHON = os.environ.get("PYTHON", shutil.which("python3.11") or sys.executable)


def readme_block(after: str) -> str:
    """The first ``` block of the README after the text `after`."""
    text = README.read_text()
    start = text.index(after)
    match = re.search(r"^```\n(.*?)^```$", text[start:], re.DOTALL | re.MULTILINE)
    assert match, f"no code block after {after!r} in README.md"
    return match.group(1)


def fresh_copy(target: Path) -> Path:
    """The repository's files in `target` as a clone of the work tree would hold them: tracked and new files as they
    are now, nothing .gitignore'd (no .venv, no var/)."""
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                           capture_output=True, check=True).stdout.split(b"\0")
    for name in filter(None, files):
        source = ROOT / name.decode()
        if source.is_file():
            (target / name.decode()).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name.decode())
    return target


@pytest.fixture(scope="module")
def make_run(tmp_path_factory):
    """`make run` in a fresh copy, on a free port; (its base URL, the first login's password)."""
    clone = fresh_copy(tmp_path_factory.mktemp("clone"))
    port, est_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CERTPLANE_", "AMQP_URI", "VIRTUAL_ENV"))}
    env.update({"CERTPLANE_HTTP_PORT": str(port), "CERTPLANE_EST_PORT": str(est_port), "PYTHON": PYTHON})
    log = open(clone / "make-run.log", "w+")
    process = subprocess.Popen(["make", "run"], cwd=clone, env=env, stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)
    try:
        password = None
        deadline = time.monotonic() + 300                     # the first `make run` installs its .venv
        while time.monotonic() < deadline and process.poll() is None:
            output = (clone / "make-run.log").read_text()
            found = re.search(r"First login: username 'admin', password '([^']+)'", output)
            if "Certplane is running at" in output and found:
                password = found.group(1)
                break
            time.sleep(0.5)
        output = (clone / "make-run.log").read_text()
        assert password, f"make run printed no URL and first login:\n{output[-3000:]}"
        assert f"Certplane is running at http://127.0.0.1:{port}/" in output
        yield f"http://127.0.0.1:{port}", password, est_port
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        log.close()


def run_readme(lines: str, base_url: str, cwd: Path, est_port: int) -> subprocess.CompletedProcess:
    script = lines.replace("http://127.0.0.1:8080", base_url).replace("https://127.0.0.1:8443",
                                                                      f"https://127.0.0.1:{est_port}")
    return subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=cwd, capture_output=True, text=True,
                          timeout=180)


def test_the_readme_quick_start_issues_a_certificate_that_verifies(make_run, tmp_path):
    base_url, password, est_port = make_run
    try_it = readme_block("The same from the command line, with the REST API:")
    first_certificate = readme_block("Then, optionally, a first TLS certificate")
    devices = readme_block("In the same shell as the quick start")
    assert "<the printed password>" in try_it and "<12 or more characters>" in try_it
    script = (try_it.replace("<the printed password>", password)
              .replace("<12 or more characters>", "readme quick start passphrase") + first_certificate + devices)

    ran = run_readme(script, base_url, tmp_path, est_port)

    assert ran.returncode == 0, f"stdout:\n{ran.stdout}\nstderr:\n{ran.stderr}"
    assert "web.pem: OK" in ran.stdout                                   # openssl verify of the chain
    assert "client.pem: OK" in ran.stdout and "sensor.pem: OK" in ran.stdout     # the SCEP and EST devices
    for device, name in (("client.pem", "printer-1.corp.internal"), ("sensor.pem", "sensor-1.corp.internal")):
        subject = subprocess.run(["openssl", "x509", "-in", str(tmp_path / device), "-noout", "-subject"],
                                 capture_output=True, text=True, check=True).stdout
        assert f"CN = {name}" in subject and "O = Example Corp" in subject, subject
    assert '"name": "Example Corp"' in ran.stdout or '"name":"Example Corp"' in ran.stdout.replace(" ", "")
    text = subprocess.run(["openssl", "x509", "-in", str(tmp_path / "web.pem"), "-noout", "-ext",
                           "subjectAltName"], capture_output=True, text=True, check=True).stdout
    assert "DNS:web.corp.internal" in text                               # the CN-only CSR's name, as SAN
    leaf = tmp_path / "leaf.pem"
    leaf.write_text((tmp_path / "web.pem").read_text().split("-----END CERTIFICATE-----")[0]
                    + "-----END CERTIFICATE-----\n")
    linted = subprocess.run([str(Path(sys.executable).with_name("lint_pkix_cert")), "lint", "-s", "ERROR",
                             str(leaf)], capture_output=True, text=True)
    assert linted.returncode == 0 and not linted.stdout.strip(), linted.stdout + linted.stderr

    # the whole chain with both CRLs, on this install with no settings at all: the certificate passes, and fails
    # once revoked
    api = requests.Session()
    api.headers["Authorization"] = "Bearer " + requests.post(f"{base_url}/api/v1/auth/login", json={
        "username": "admin", "password": "readme quick start passphrase"}, timeout=30).json()["token"]
    issued = api.get(f"{base_url}/api/v1/ssl", timeout=30).json()["items"][0]
    root_id = next(c["ca_id"] for c in api.get(f"{base_url}/api/v1/cas", timeout=30).json()["items"]
                   if c["kind"] == "root")

    def crl_check() -> subprocess.CompletedProcess:
        crls = []
        for ca_id in (root_id, issued["ca_id"]):
            der = requests.get(f"{base_url}/crl/{ca_id}.crl", timeout=30)
            assert der.status_code == 200, f"no CRL for {ca_id}"
            crls += ["-CRLfile", str(tmp_path / f"{ca_id}.crl.pem")]
            subprocess.run(["openssl", "crl", "-inform", "DER", "-out", crls[-1]], input=der.content, check=True,
                           capture_output=True)
        return subprocess.run(["openssl", "verify", "-crl_check_all", "-CAfile", "root.pem", "-untrusted", "web.pem",
                               *crls, "web.pem"], cwd=tmp_path, capture_output=True, text=True)

    good = crl_check()
    assert good.returncode == 0, good.stdout + good.stderr
    assert api.post(f"{base_url}/api/v1/ssl/{issued['ssl_id']}/revoke", json={"reason": "key_compromise"},
                    timeout=30).status_code == 200
    deadline = time.monotonic() + 60             # the issuing CA publishes a CRL within a check interval (15 s)
    checked = crl_check()
    while checked.returncode == 0 and time.monotonic() < deadline:
        time.sleep(1)
        checked = crl_check()
    assert checked.returncode != 0 and "certificate revoked" in checked.stdout + checked.stderr
