"""The CSR uploaded as a file (multipart/form-data), as the SSL request form of SCM allows: the same route, the
same fields, validation, errors and Idempotency-Key rules as the JSON request."""
import json
import sqlite3
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests import factories
from tests.e2e.conftest import Embedded
from tests.e2e.test_ssl_lifecycle import world  # noqa: F401 — this module's own world, on its own Certplane


@pytest.fixture(scope="module")
def cp(tmp_path_factory):
    """As test_ssl_lifecycle's Certplane, without its renewal of every auto-renew certificate each second: here
    such a renewal would add a request behind the counts the refusal tests compare."""
    server = Embedded(tmp_path_factory.mktemp("var"), tmp_path_factory.mktemp("logs"),
                      CERTPLANE_PUBLIC_BASE_URL="http://pki.certplane-e2e.example.com").start()
    yield server
    server.stop()

SSL = "/api/v1/ssl"


def new_csr(*names: str, key=None) -> bytes:
    """A PEM CSR for `names` under a key of its own (so the certificate can be matched to it)."""
    return factories.csr(cn=names[0], sans=names, key=key or ec.generate_private_key(ec.SECP256R1()))


def der(pem: bytes) -> bytes:
    return x509.load_pem_x509_csr(pem).public_bytes(serialization.Encoding.DER)


def form(world, **fields) -> dict:
    return {"organization_id": world["org"], "profile_id": world["tls"]["profile_id"], "term_days": "90", **fields}


def upload(api, content: bytes, fields: dict, filename="request.csr", content_type="application/pkcs10",
           **kwargs):
    """POST /api/v1/ssl as multipart/form-data: the CSR as the file part `csr`, `fields` as form fields (a list
    value becomes the field repeated)."""
    return api("POST", SSL, data=fields, files={"csr": (filename, content, content_type)}, **kwargs)


def ssl_count(cp) -> int:
    return int(cp.api("HEAD", SSL).headers["X-Total-Count"])


def signed_certificates(cp) -> int:
    """Rows in the ca's certificate table (each serial the CA recorded for signing), read from its SQLite file."""
    with sqlite3.connect(f"file:{cp.var_dir / 'ca.sqlite3'}?mode=ro", uri=True, timeout=10) as conn:
        return conn.execute("SELECT count(*) FROM certificates").fetchone()[0]


def certificate_of(api, ssl_id: str) -> x509.Certificate:
    got = api("GET", f"{SSL}/{ssl_id}/download", params={"format": "pem"})
    assert got.status_code == 200, got.text
    return x509.load_pem_x509_certificate(got.content)


def test_an_uploaded_pem_file_is_issued_with_the_form_fields(cp, world):
    names = ("pem-upload.ssl-e2e.example.com", "pem-upload2.ssl-e2e.example.com")
    pem = new_csr(*names)
    answer = upload(world["auto"], pem, form(world, sans=list(names), auto_renew="true", comments="via a form"),
                    filename="request.pem", content_type="application/x-pem-file")
    assert answer.status_code == 201, answer.text
    issued = answer.json()
    assert issued["status"] == "issued" and issued["term_days"] == 90 and issued["auto_renew"] is True
    assert issued["sans"] == list(names) and issued["comments"] == "via a form"
    certificate = certificate_of(world["auto"], issued["ssl_id"])
    assert certificate.public_key() == x509.load_pem_x509_csr(pem).public_key()
    san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == list(names)


def test_an_uploaded_der_file_is_issued(cp, world):
    pem = new_csr("der-upload.ssl-e2e.example.com")
    answer = upload(world["auto"], der(pem), form(world), filename="request.der",
                    content_type="application/octet-stream")
    assert answer.status_code == 201, answer.text
    assert answer.json()["status"] == "issued"
    assert certificate_of(world["auto"], answer.json()["ssl_id"]).public_key() == \
        x509.load_pem_x509_csr(pem).public_key()


def test_the_csr_as_a_text_field_of_the_form_works_too(cp, world):
    pem = new_csr("text-field.ssl-e2e.example.com")
    answer = world["auto"]("POST", SSL, files={"csr": (None, pem.decode())}, data=form(world))
    assert answer.status_code == 201 and answer.json()["status"] == "issued", answer.text


@pytest.mark.parametrize("content", [b"hello, I am not a CSR", b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n"
                                     b"-----END CERTIFICATE REQUEST-----\n", b"\x30\x82\x01\x00" + b"\x00" * 40])
def test_an_uploaded_file_that_is_no_csr_is_refused_and_nothing_is_signed(cp, world, content):
    before, signed = ssl_count(cp), signed_certificates(cp)
    answer = upload(world["auto"], content, form(world))
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["code"] == "csr_malformed" and "csr" in answer.json()["error"]["details"]
    assert ssl_count(cp) == before and signed_certificates(cp) == signed


def test_a_form_without_the_csr_or_with_an_empty_file_is_refused(cp, world):
    before = ssl_count(cp)
    missing = world["auto"]("POST", SSL, files={"comments": (None, "no csr here")}, data=form(world))
    assert missing.status_code == 400, missing.text
    assert missing.json()["error"]["details"] == {"csr": ["Missing data for required field."]}
    empty = upload(world["auto"], b"", form(world))                 # a file input left blank in a browser
    assert empty.status_code == 400 and "csr" in empty.json()["error"]["details"], empty.text
    assert ssl_count(cp) == before


def test_form_fields_are_validated_like_json(cp, world):
    pem = new_csr("fields.ssl-e2e.example.com")
    bad = upload(world["auto"], pem, form(world, term_days="ninety", auto_renew="maybe", colour="blue"))
    assert bad.status_code == 400, bad.text
    details = bad.json()["error"]["details"]
    assert set(details) == {"term_days", "auto_renew", "colour"} and details["colour"] == ["Unknown field."]
    twice = upload(world["auto"], pem, {**form(world), "term_days": ["90", "200"]})
    assert twice.status_code == 400 and twice.json()["error"]["details"] == {"term_days": ["sent more than once"]}
    not_a_file = world["auto"]("POST", SSL, files={"csr": ("r.pem", pem), "comments": ("c.txt", b"hi")},
                               data=form(world))
    assert not_a_file.status_code == 400
    assert not_a_file.json()["error"]["details"] == {"comments": ["send this field as a form field, not a file"]}
    policy = upload(world["auto"], new_csr("www.not-delegated.example.com"), form(world))
    assert policy.status_code == 422 and policy.json()["error"]["code"] == "names_not_allowed"


def test_the_same_upload_with_the_same_idempotency_key_is_one_request(cp, world):
    pem = new_csr("idempotent-upload.ssl-e2e.example.com")
    before = ssl_count(cp)
    headers = {"Idempotency-Key": "upload-once-1"}
    first = upload(world["auto"], pem, form(world), headers=headers)        # each send: a new random boundary
    second = upload(world["auto"], pem, form(world), headers=headers)
    assert first.status_code == second.status_code == 201, first.text + second.text
    assert second.headers.get("Idempotent-Replayed") == "true" and second.json() == first.json()
    assert ssl_count(cp) == before + 1
    other = upload(world["auto"], new_csr("idempotent-upload.ssl-e2e.example.com"), form(world), headers=headers)
    assert other.status_code == 409 and other.json()["error"]["code"] == "idempotency_key_reused"


def test_an_upload_over_the_body_limit_is_413(cp, world):
    too_big = new_csr("big.ssl-e2e.example.com") + b"#" * 70_000             # the e2e server allows 64 KiB
    answer = upload(world["auto"], too_big, form(world))
    assert answer.status_code == 413 and answer.json()["error"]["code"] == "request_entity_too_large"


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "application/pkcs10"])
def test_other_content_types_are_415(cp, world, content_type):
    answer = world["auto"]("POST", SSL, data=new_csr("ct.ssl-e2e.example.com"),
                           headers={"Content-Type": content_type})
    assert answer.status_code == 415, answer.text
    assert "application/json or multipart/form-data" in answer.json()["error"]["message"]


def test_renew_takes_an_uploaded_csr(cp, world):
    name = "renew-upload.ssl-e2e.example.com"
    first = upload(world["auto"], new_csr(name), form(world))
    assert first.status_code == 201, first.text
    rsa_csr = factories.csr(cn=name, sans=(name,), key=factories.private_key("rsa-3072"))
    renewed = world["auto"]("POST", f"{SSL}/{first.json()['ssl_id']}/renew",
                            files={"csr": ("renew.der", der(rsa_csr), "application/octet-stream")})
    assert renewed.status_code == 201, renewed.text
    assert renewed.json()["key_type"] == "rsa-3072" and renewed.json()["renewal_of"] == first.json()["ssl_id"]


def test_the_openapi_document_offers_both_body_types(cp):
    document = cp.api("GET", "/api/v1/openapi.json").json()
    body = document["paths"]["/api/v1/ssl"]["post"]["requestBody"]
    assert set(body["content"]) == {"application/json", "multipart/form-data"}
    assert "csr" in body["content"]["multipart/form-data"]["encoding"]
    assert "repeated" in body["description"]


def test_curl_uploads_a_der_file_as_the_readme_shows(cp, world, tmp_path):
    names = ("curl-upload.ssl-e2e.example.com", "curl-upload2.ssl-e2e.example.com")
    (tmp_path / "req.der").write_bytes(der(new_csr(*names)))
    auto = world["auto"]
    result = subprocess.run(
        ["curl", "-sS", "-H", f"Authorization: {auto.http.headers['Authorization']}",
         "-F", f"csr=@{tmp_path / 'req.der'}", "-F", f"organization_id={world['org']}",
         "-F", f"profile_id={world['tls']['profile_id']}", "-F", "term_days=90",
         "-F", f"sans={names[0]}", "-F", f"sans={names[1]}", "-w", "\n%{http_code}", f"{auto.base_url}{SSL}"],
        capture_output=True, text=True, timeout=60)
    body, _, status = result.stdout.rpartition("\n")
    assert status == "201", result.stdout + result.stderr
    assert json.loads(body)["status"] == "issued" and json.loads(body)["sans"] == list(names)
