"""Trust classes end to end (issue 10): what a private PKI needs — internal names, single labels, IP addresses in a
delegated network, the classic CN-only CSR, the department as OU, a name too long for a CN — issued under the
default private profile and checked with openssl and pkilint's RFC 5280 linter; the same requests under a public
profile refused with a 422 naming the rule (a department's certificate issued there without an OU); the whole
chain checked with `openssl verify -crl_check_all` against both CRLs (the root's ARL and the issuing CA's CRL)."""
import subprocess
import time
from pathlib import Path

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from tests import factories
from tests.dns_server import DnsServer
from tests.e2e.conftest import Embedded, validate_by_email
from tests.e2e.test_ssl_lifecycle import ORG, VENV_BIN, openssl, wait_for_profiles

PUBLIC_URL = "http://pki.private-pki-e2e.example.com"      # public links, so the public profile can issue too
DOMAIN = "pki-e2e.example.com"
LONG_NAME = "a" * 40 + "." + "b" * 40 + "." + DOMAIN          # 100 characters: no room for it in a CN


@pytest.fixture(scope="module")
def cp(tmp_path_factory):
    dns = DnsServer().start()
    server = Embedded(tmp_path_factory.mktemp("var"), tmp_path_factory.mktemp("logs"),
                      CERTPLANE_PUBLIC_BASE_URL=PUBLIC_URL, CERTPLANE_CRL_CHECK_INTERVAL="1",
                      CERTPLANE_DNS_RESOLVER=dns.address, CERTPLANE_CAA_IDENTITIES="certplane.test").start()
    yield server
    server.stop()
    dns.stop()


@pytest.fixture(scope="module")
def world(cp):
    api = cp.api
    org = api.create_org({"name": "PKI Org", **ORG})["organization_id"]
    made = api("POST", f"/api/v1/organizations/{org}/departments", json={"name": "Platform"})
    assert made.status_code == 201, made.text
    department = made.json()["department_id"]
    to_both = [{"organization_id": org, "cert_types": ["ssl"]},
               {"organization_id": org, "department_id": department, "cert_types": ["ssl"]}]
    domains = {}
    for name in (DOMAIN, "corp.internal", "intranet"):
        created = api("POST", "/api/v1/domains", json={"name": name, "delegations": to_both})
        assert created.status_code == 201, created.text
        domains[name] = created.json()
    validate_by_email(api, domains[DOMAIN])                      # fresh DCV, which public profiles need
    network = api("POST", "/api/v1/networks", json={"cidr": "10.20.0.0/16", "delegations": to_both})
    assert network.status_code == 201, network.text
    profiles = {p["name"]: p for p in wait_for_profiles(api)}
    public = {k: v for k, v in profiles["Public TLS"].items() if k not in ("profile_id", "created_at", "updated_at")}
    public_auto = api("POST", "/api/v1/profiles", json={**public, "name": "Public TLS (no approval)",
                                                       "requires_approval": False})
    assert public_auto.status_code == 201, public_auto.text
    return {"org": org, "department": department, "private": profiles["Private TLS Server"],
            "public": public_auto.json()}


# name of the case: (the CSR, the request's other fields)
CASES = {
    "internal name": (lambda: factories.csr(cn=None, sans=("host.corp.internal",)), {}),
    "single label": (lambda: factories.csr(cn=None, sans=("intranet",)), {}),
    "ip address": (lambda: factories.csr(cn=None, sans=(), ips=("10.20.1.5", )), {}),
    "cn only": (lambda: factories.csr(cn=f"cn-only.{DOMAIN}", sans=()), {}),
    "department": (lambda: factories.csr(cn=f"dept.{DOMAIN}", sans=(f"dept.{DOMAIN}",)), {"department": True}),
    "long name": (lambda: factories.csr(cn=None, sans=(LONG_NAME,)), {}),
}
PUBLIC_REFUSALS = {"internal name": "internal_name_not_allowed", "single label": "internal_name_not_allowed",
                   "ip address": "ip_address_not_allowed", "cn only": "csr_san_required",
                   "long name": "common_name_required"}


def request(cp, world, profile: str, case: str):
    make_csr, extra = CASES[case]
    body = {"organization_id": world["org"], "profile_id": world[profile]["profile_id"], "term_days": 90,
            "csr": make_csr().decode()}
    if extra.get("department"):
        body["department_id"] = world["department"]
    return cp.api("POST", "/api/v1/ssl", json=body)


def fullchain(cp, ssl_id: str, tmp_path: Path) -> list[x509.Certificate]:
    answer = cp.api("GET", f"/api/v1/ssl/{ssl_id}/download", params={"format": "fullchain"})
    assert answer.status_code == 200, answer.text
    certs = x509.load_pem_x509_certificates(answer.content)
    for name, cert in zip(("leaf.pem", "issuing.pem", "root.pem"), certs):
        (tmp_path / name).write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return certs


def verify(tmp_path: Path, *extra) -> subprocess.CompletedProcess:
    return openssl("verify", *extra, "-CAfile", str(tmp_path / "root.pem"), "-untrusted", str(tmp_path / "issuing.pem"),
                   str(tmp_path / "leaf.pem"))


def pkilint(linter: str, path: Path) -> subprocess.CompletedProcess:
    args = [f"{VENV_BIN}/{linter}", "lint", "-s", "ERROR"] + (["-d"] if linter == "lint_cabf_serverauth_cert" else [])
    return subprocess.run(args + [str(path)], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("case", list(CASES))
def test_a_private_profile_issues_what_a_private_pki_needs(cp, world, case, tmp_path):
    answer = request(cp, world, "private", case)
    assert answer.status_code == 201, answer.text
    issued = answer.json()
    assert issued["status"] == "issued" and issued["trust_class"] == "private"
    leaf = fullchain(cp, issued["ssl_id"], tmp_path)[0]
    checked = verify(tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    linted = pkilint("lint_pkix_cert", tmp_path / "leaf.pem")
    findings = [line.strip() for line in linted.stdout.splitlines() if "(ERROR)" in line or "(FATAL)" in line]
    if case == "single label":          # pkilint wants two labels, RFC 1034 3.5 allows one (services/ca/lint.py)
        assert findings == ['pkix.invalid_domain_name_syntax (ERROR): Invalid domain name syntax: "intranet"']
    else:
        assert linted.returncode == 0 and not linted.stdout.strip(), linted.stdout + linted.stderr
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    names = [str(n.value) for n in san]
    cn = [a.value for a in leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    ou = [a.value for a in leaf.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)]
    expected = {"internal name": ["host.corp.internal"], "single label": ["intranet"], "ip address": ["10.20.1.5"],
                "cn only": [f"cn-only.{DOMAIN}"], "department": [f"dept.{DOMAIN}"], "long name": [LONG_NAME]}[case]
    assert names == expected and issued["sans"] == expected
    assert cn == ([] if case == "long name" else expected)            # no CN when no name fits in 64 characters
    assert issued["common_name"] == (None if case == "long name" else expected[0])
    assert ou == (["Platform"] if case == "department" else [])
    if case == "ip address":
        assert san.get_values_for_type(x509.IPAddress)[0].exploded == "10.20.1.5"


@pytest.mark.parametrize("case", list(PUBLIC_REFUSALS))
def test_a_public_profile_refuses_them_naming_the_rule(cp, world, case):
    before = cp.api("HEAD", "/api/v1/ssl").headers["X-Total-Count"]
    answer = request(cp, world, "public", case)
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["code"] == PUBLIC_REFUSALS[case]
    assert cp.api("HEAD", "/api/v1/ssl").headers["X-Total-Count"] == before        # nothing recorded


def test_a_public_certificate_for_a_department_has_no_ou(cp, world, tmp_path):
    answer = request(cp, world, "public", "department")
    assert answer.status_code == 201, answer.text
    assert answer.json()["trust_class"] == "public"
    leaf = fullchain(cp, answer.json()["ssl_id"], tmp_path)[0]
    assert leaf.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME) == []
    assert leaf.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "PKI Org"
    linted = pkilint("lint_cabf_serverauth_cert", tmp_path / "leaf.pem")
    assert linted.returncode == 0 and "ERROR" not in linted.stdout, linted.stdout + linted.stderr


@pytest.mark.parametrize("address", ["10.99.0.1", "10.21.0.1", "fd00::1"])
def test_an_ip_address_outside_every_delegated_network_is_refused(cp, world, address):
    before = cp.api("HEAD", "/api/v1/ssl").headers["X-Total-Count"]
    answer = cp.api("POST", "/api/v1/ssl", json={
        "organization_id": world["org"], "profile_id": world["private"]["profile_id"], "term_days": 90,
        "csr": factories.csr(cn=None, sans=(), ips=(address,)).decode()})
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["code"] == "names_not_allowed" and address in error["message"]
    assert cp.api("HEAD", "/api/v1/ssl").headers["X-Total-Count"] == before


def test_the_trust_class_of_a_profile_is_shown_and_fixed(cp, world):
    path = f"/api/v1/profiles/{world['private']['profile_id']}"
    assert cp.api("GET", path).json()["trust_class"] == "private"
    changed = cp.api("PATCH", path, json={"trust_class": "public"})
    assert changed.status_code == 400 and changed.json()["error"]["code"] == "trust_class_fixed", changed.text
    assert cp.api("GET", path).json()["trust_class"] == "private"
    public = cp.api("GET", f"/api/v1/profiles/{world['public']['profile_id']}").json()
    assert public["trust_class"] == "public"
    items = cp.api("GET", "/api/v1/ssl").json()["items"]
    assert {item["trust_class"] for item in items} <= {"private", "public"} and items


def _crl_pem(cp, ca_id: str, tmp_path: Path, name: str) -> Path:
    answer = requests.get(f"{cp.api.base_url}/crl/{ca_id}.crl", timeout=30)
    assert answer.status_code == 200, f"{ca_id}: {answer.status_code} {answer.text[:200]}"
    (tmp_path / f"{name}.der").write_bytes(answer.content)
    assert openssl("crl", "-inform", "DER", "-in", str(tmp_path / f"{name}.der"), "-out",
                   str(tmp_path / f"{name}.pem")).returncode == 0
    return tmp_path / f"{name}.pem"


def test_the_whole_chain_is_checked_with_both_crls(cp, world, tmp_path):
    issued = cp.api("POST", "/api/v1/ssl", json={
        "organization_id": world["org"], "profile_id": world["private"]["profile_id"], "term_days": 90,
        "csr": factories.csr(cn=None, sans=("crl-check.corp.internal",)).decode()}).json()
    fullchain(cp, issued["ssl_id"], tmp_path)
    root_id = next(c["ca_id"] for c in cp.api("GET", "/api/v1/cas").json()["items"] if c["kind"] == "root")

    def check() -> subprocess.CompletedProcess:
        return verify(tmp_path, "-crl_check_all", "-CRLfile", str(_crl_pem(cp, root_id, tmp_path, "root-crl")),
                      "-CRLfile", str(_crl_pem(cp, issued["ca_id"], tmp_path, "issuing-crl")))

    good = check()
    assert good.returncode == 0, good.stdout + good.stderr
    revoked = cp.api("POST", f"/api/v1/ssl/{issued['ssl_id']}/revoke", json={"reason": "key_compromise"})
    assert revoked.status_code == 200, revoked.text
    deadline = time.monotonic() + 30
    result = check()
    while result.returncode == 0 and time.monotonic() < deadline:      # the CRL follows within seconds
        time.sleep(0.5)
        result = check()
    assert result.returncode != 0 and "certificate revoked" in result.stdout + result.stderr
