"""GET /api/v1/ssl/{id}/details (the console's certificate page): the certificate and its chain decoded on the
server — matched here against the downloaded PEM read by `cryptography` — visible as GET /api/v1/ssl/{id} (an RAO
of another organization gets 404), 404 not_issued before issuance, and reading it records no download."""
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import ExtensionOID

from tests import factories
from tests.e2e.conftest import Embedded
from tests.e2e.test_ssl_lifecycle import ORG, wait_for_profiles

NAME = "details.corp.internal"


@pytest.fixture(scope="module")
def cp(tmp_path_factory):
    server = Embedded(tmp_path_factory.mktemp("var"), tmp_path_factory.mktemp("logs")).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def world(cp):
    api = cp.api
    org = api.create_org({"name": "Details Org", **ORG})["organization_id"]
    other = api.create_org({"name": "Details Other Org", **ORG})["organization_id"]
    created = api("POST", "/api/v1/domains", json={"name": "corp.internal", "delegations": [
        {"organization_id": org, "cert_types": ["ssl"]}]})
    assert created.status_code == 201, created.text
    profiles = {p["name"]: p for p in wait_for_profiles(api)}
    outsider = cp.admin("details-rao", [{"role": "RAO", "cert_type": "ssl", "organization_ids": [other]}])[1]
    rao = cp.admin("details-own-rao", [{"role": "RAO", "cert_type": "ssl", "organization_ids": [org]}])[1]
    return {"org": org, "profile": profiles["Private TLS Server"], "outsider": outsider, "rao": rao}


def issue(api, world, **fields):
    body = {"organization_id": world["org"], "profile_id": world["profile"]["profile_id"], "term_days": 90,
            "csr": factories.csr("ec-p256", cn=NAME, sans=(NAME, f"www.{NAME}")).decode(), **fields}
    answer = api("POST", "/api/v1/ssl", json=body)
    assert answer.status_code == 201, answer.text
    return answer.json()


def test_details_decode_the_certificate_and_chain(cp, world):
    api = cp.api
    ssl = issue(api, world)
    assert ssl["status"] == "issued"
    answer = api("GET", f"/api/v1/ssl/{ssl['ssl_id']}/details")
    assert answer.status_code == 200, answer.text
    details = answer.json()
    assert details["status"] == "issued"          # reading the details is not a download
    assert api("GET", f"/api/v1/ssl/{ssl['ssl_id']}").json()["status"] == "issued"

    pem = api("GET", f"/api/v1/ssl/{ssl['ssl_id']}/download", params={"format": "pem"}).text
    certificate = x509.load_pem_x509_certificate(pem.encode())
    decoded = details["certificate"]
    assert decoded["serial"] == format(certificate.serial_number, "x") == ssl["serial"].lower().lstrip("0")
    assert decoded["sha256_fingerprint"] == certificate.fingerprint(hashes.SHA256()).hex() == ssl["sha256_fingerprint"]
    assert decoded["sha1_fingerprint"] == certificate.fingerprint(hashes.SHA1()).hex()
    assert decoded["subject"] == certificate.subject.rfc4514_string()
    assert {"oid": "2.5.4.3", "name": "CN", "value": NAME} in decoded["subject_attributes"]
    assert [n["value"] for n in decoded["subject_alternative_names"]] == [NAME, f"www.{NAME}"]
    assert {n["type"] for n in decoded["subject_alternative_names"]} == {"dns"}
    assert decoded["public_key"] == {"type": "EC", "size": 256, "curve": "secp256r1"}
    assert decoded["not_after"] == certificate.not_valid_after_utc.isoformat()
    assert "digital_signature" in decoded["key_usage"] and "server_auth" in decoded["extended_key_usage"]
    assert decoded["basic_constraints"] == {"ca": False, "path_length": None}
    ski = certificate.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_KEY_IDENTIFIER).value
    assert decoded["subject_key_identifier"] == ski.digest.hex()
    assert decoded["authority_key_identifier"]
    assert any(a["method"] == "ocsp" for a in decoded["authority_information_access"])
    assert decoded["crl_distribution_points"]
    assert {e["oid"] for e in decoded["extensions"]} >= {"2.5.29.17", "2.5.29.15", "2.5.29.37"}
    assert x509.load_pem_x509_certificate(decoded["pem"].encode()) == certificate

    chain = details["chain"]
    assert len(chain) >= 2 and chain[-1]["self_signed"] and chain[0]["basic_constraints"]["ca"] is True
    assert chain[0]["subject"] == decoded["issuer"]
    assert chain[0]["subject_key_identifier"] == decoded["authority_key_identifier"]


def test_details_visibility_and_before_issuance(cp, world):
    api = cp.api
    ssl = issue(api, world)
    hidden = world["outsider"]("GET", f"/api/v1/ssl/{ssl['ssl_id']}/details")
    assert hidden.status_code == 404 and hidden.json()["error"]["code"] == "not_found"
    unknown = api("GET", "/api/v1/ssl/00000000-0000-4000-8000-000000000000/details")
    assert unknown.status_code == 404

    tls = world["profile"]
    waiting = api("POST", "/api/v1/profiles", json={
        **{k: v for k, v in tls.items() if k not in ("profile_id", "created_at", "updated_at")},
        "name": "Details approval", "requires_approval": True})
    assert waiting.status_code == 201, waiting.text
    requested = issue(world["rao"], world, profile_id=waiting.json()["profile_id"])     # no auto-approve
    assert requested["status"] == "requested"
    early = world["rao"]("GET", f"/api/v1/ssl/{requested['ssl_id']}/details")
    assert early.status_code == 404, early.text
    assert early.json()["error"]["code"] == "not_issued"
    assert "requested" in early.json()["error"]["message"]
