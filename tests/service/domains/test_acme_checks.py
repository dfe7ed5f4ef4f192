"""The domains step of the ACME challenge pipeline: enrollment's `acme_challenge_submitted` events, pulled by
domains' processor (its real tracking row, on a real SQLite store), checked against real servers — the test DNS
server (tests/dns_server.py), a real HTTP server (tests/http_server.py) and a TLS-ALPN server started here with a
certificate made by `cryptography` — and recorded as `acme_challenge_checked` (and DCV evidence)."""
import datetime
import hashlib
import ipaddress
import time
import uuid
from types import SimpleNamespace

import pytest
from asn1crypto.core import OctetString
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from eventlet import patcher
from nameko.testing.services import worker_factory

from contracts import acme as acme_contract
from services.domains.adapters.acme_checks import ACME_IDENTIFIER_OID, txt_value
from services.domains.service import DcvTools, DomainsService
from services.runtime.config import Settings
from services.runtime.events import Envelope
from services.runtime.follower import PreparedPolicy
from services.runtime.nameko_glue import StoreHandle
from tests import factories
from tests.dns_server import DnsServer
from tests.http_server import HttpServer, _TlsConnection

real_socket = patcher.original("socket")
real_ssl = patcher.original("ssl")
real_threading = patcher.original("threading")

ORG = "6f1c2b1e-3c1a-4f3e-9a55-6d2f0d6f7f10"
OTHER_ORG = "0b000000-0000-4000-8000-00000000000b"
MRAO = "admin-mrao"
ACCOUNT = "https://certplane.test/acme/acct/5d1c"
THUMBPRINT = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


# ---- the outside world ------------------------------------------------------------------------------------------

class TlsAlpnServer:
    """A TLS server on 127.0.0.1 (real OS thread and sockets, TLS through tests/http_server's memory-BIO
    connection) that answers every handshake with the certificate of the last `answer(...)`: SAN `san` (default
    the name), an acmeIdentifier extension holding the DER OCTET STRING of `digest` (default SHA-256 of the key
    authorization); `alpn` False: it negotiates no ALPN protocol. `snis`: the SNI of every handshake."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.context = None
        self.snis: list[str] = []
        self._stop = real_threading.Event()

    def answer(self, name: str, key_authorization: str | None = None, digest: bytes | None = None,
               san: list[str] | None = None, critical: bool = True, alpn: bool = True) -> None:
        digest = digest if digest is not None else hashlib.sha256(key_authorization.encode()).digest()
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "acme-tls-alpn")])
        now = datetime.datetime.now(datetime.timezone.utc)
        certificate = (
            x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in (san or [name])]), False)
            .add_extension(x509.UnrecognizedExtension(ACME_IDENTIFIER_OID, OctetString(digest).dump()), critical)
            .sign(self.key, hashes.SHA256()))
        context = real_ssl.SSLContext(real_ssl.PROTOCOL_TLS_SERVER)
        cert_file, key_file = self.tmp / "tls-alpn.pem", self.tmp / "tls-alpn.key"
        cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(self.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                    serialization.NoEncryption()))
        context.load_cert_chain(cert_file, key_file)
        if alpn:
            context.set_alpn_protocols(["acme-tls/1"])
        context.sni_callback = lambda _tls, server_name, _context: self.snis.append(server_name)
        self.context = context

    def start(self) -> "TlsAlpnServer":
        self.answer("default.invalid", "nothing")
        self._listener = real_socket.socket(real_socket.AF_INET, real_socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self._listener.settimeout(0.1)
        self.port = self._listener.getsockname()[1]
        self._thread = real_threading.Thread(target=self._serve, name="tls-alpn-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            try:
                conn.settimeout(5)
                _TlsConnection(conn, self.context)          # the handshake is all a tls-alpn-01 check does
            except OSError:                                 # ssl.SSLError too: a client that gave up
                pass
            finally:
                conn.close()
        self._listener.close()


@pytest.fixture
def dns():
    with DnsServer() as server:
        yield server


@pytest.fixture
def web():
    server = HttpServer().start()
    yield server
    server.stop()


@pytest.fixture
def tls(tmp_path):
    server = TlsAlpnServer(tmp_path).start()
    yield server
    server.stop()


class Enrollment:
    """enrollment as the processor sees it: a log of `acme_challenge_submitted` events and its read_page RPC."""

    def __init__(self):
        self.log: list[dict] = []

    def submit(self, identifier: str, method: str, wildcard: bool = False, organization: str = ORG,
               trust_class: str = "private", challenge_id: str | None = None) -> dict:
        token = uuid.uuid4().hex
        payload = {"authorization_id": str(uuid.uuid4()), "challenge_id": challenge_id or uuid.uuid4().hex[:12],
                   "method": method, "identifier": identifier, "wildcard": wildcard, "token": token,
                   "key_authorization": f"{token}.{THUMBPRINT}", "organization_id": organization,
                   "department_id": None, "account_uri": ACCOUNT, "trust_class": trust_class}
        assert acme_contract.AcmeChallengeSubmittedV1().validate(payload) == {}
        position = len(self.log) + 1
        self.log.append(Envelope(str(uuid.uuid4()), "acme_challenge_submitted.v1", "enrollment",
                                 f"acme-authz-{payload['authorization_id']}", 2, position,
                                 datetime.datetime.now(datetime.timezone.utc), "corr-acme", None, "acme:test",
                                 payload).to_message())
        return payload

    def read_page(self, after: int, limit: int) -> dict:
        events = [m for m in self.log if m["position"] > after][:limit]
        return {"events": events, "until": events[-1]["position"] if events else after}


@pytest.fixture
def pipeline(tmp_path, dns, web, tls):
    settings = Settings(var_dir=str(tmp_path), caa_identities=("certplane.test",), dns_resolver=dns.address,
                        dcv_http_allow_private=True, acme_http_port=web.port, acme_tls_port=tls.port,
                        dcv_http_timeout=3.0, rpc_timeout=4.0)
    tools = DcvTools()
    tools.container = SimpleNamespace(config={"CERTPLANE": settings}, service_name="domains")
    tools.setup()
    store = DomainsService.store.build_store(settings, "domains")
    service = worker_factory(DomainsService, store=StoreHandle(store, factories.WorkerInfo()), tools=tools)
    processor = DomainsService.acme_checks.build_on(store)
    enrollment = Enrollment()
    for name in ("example.test", "www.example.test"):
        dns.set(name, "A", ["127.0.0.1"])
    dns.set("down.example.test", "A", ["127.0.0.2"])             # loopback, but nothing listens there
    domain = service.create_domain({"name": "example.test", "delegations": [
        {"organization_id": ORG, "department_id": None, "cert_types": ["ssl"]}]}, MRAO, True)["domain"]

    def run() -> dict:
        """Let the processor pull and check what enrollment submitted; the checked events by challenge id."""
        processor.catch_up(enrollment.read_page, policy=PreparedPolicy(service.check_acme_challenges,
                                                                        service.prepare_acme_checks))
        return {r.payload["challenge_id"]: r for r in store.read_events(0, 1000)
                if r.event_type == "acme_challenge_checked.v1"}

    return SimpleNamespace(service=service, store=store, enrollment=enrollment, run=run, domain=domain,
                           dns=dns, web=web, tls=tls, processor=processor)


def outcome(record) -> tuple:
    p = record.payload
    return p["valid"], p["problem_type"]


def serve_http(p, submitted: dict, body: str | None = None) -> None:
    p.web.serve(f"/.well-known/acme-challenge/{submitted['token']}",
                (submitted["key_authorization"] if body is None else body) + "\r\n")


# ---- http-01 ----------------------------------------------------------------------------------------------------

def test_http_01_valid_wrong_body_and_connection_refused(pipeline):
    p = pipeline
    good = p.enrollment.submit("www.example.test", "http-01")
    serve_http(p, good)
    wrong = p.enrollment.submit("www.example.test", "http-01")
    serve_http(p, wrong, body="something else")
    refused = p.enrollment.submit("down.example.test", "http-01")
    checked = p.run()
    assert outcome(checked[good["challenge_id"]]) == (True, None)
    assert checked[good["challenge_id"]].stream_id == f"domain-{p.domain['domain_id']}"
    assert outcome(checked[wrong["challenge_id"]]) == (False, "incorrectResponse")
    assert "something else" in checked[wrong["challenge_id"]].payload["detail"]
    assert outcome(checked[refused["challenge_id"]]) == (False, "connection")
    host = f"www.example.test:{p.web.port}"
    assert ("GET", f"/.well-known/acme-challenge/{good['token']}", host) in p.web.requests


def test_http_01_follows_a_redirect_to_another_host_on_the_allowed_port_only(pipeline):
    p = pipeline
    moved = p.enrollment.submit("www.example.test", "http-01")
    p.web.redirect(f"/.well-known/acme-challenge/{moved['token']}",
                   f"http://example.test:{p.web.port}/central/{moved['token']}")
    p.web.serve(f"/central/{moved['token']}", moved["key_authorization"])
    elsewhere = p.enrollment.submit("www.example.test", "http-01")
    p.web.redirect(f"/.well-known/acme-challenge/{elsewhere['token']}", "http://example.test:8081/x")
    checked = p.run()
    assert outcome(checked[moved["challenge_id"]]) == (True, None)
    assert outcome(checked[elsewhere["challenge_id"]]) == (False, "connection")
    assert "8081" in checked[elsewhere["challenge_id"]].payload["detail"]


def test_a_name_without_an_address_is_a_dns_problem(pipeline):
    p = pipeline
    p.dns.set("nowhere.example.test", "TXT", ["\"x\""])             # the name exists, without A or AAAA
    submitted = p.enrollment.submit("nowhere.example.test", "http-01")
    assert outcome(p.run()[submitted["challenge_id"]]) == (False, "dns")


# ---- dns-01 -----------------------------------------------------------------------------------------------------

def test_dns_01_valid_through_a_cname_chain_and_missing(pipeline):
    p = pipeline
    direct = p.enrollment.submit("www.example.test", "dns-01")
    p.dns.set("_acme-challenge.www.example.test", "TXT", ['"unrelated"', f'"{txt_value(direct["key_authorization"])}"'])
    chained = p.enrollment.submit("example.test", "dns-01", wildcard=True)
    # two hops, the last in another zone: the test server answers one hop per query, as an authoritative one does
    p.dns.set("_acme-challenge.example.test", "CNAME", ["hop.example.test."])
    p.dns.set("hop.example.test", "CNAME", ["acme.validation.other."])
    p.dns.set("acme.validation.other", "TXT", [f'"{txt_value(chained["key_authorization"])}"'])
    missing = p.enrollment.submit("api.example.test", "dns-01")
    wrong = p.enrollment.submit("old.example.test", "dns-01")
    p.dns.set("_acme-challenge.old.example.test", "TXT", ['"stale-value"'])
    checked = p.run()
    assert outcome(checked[direct["challenge_id"]]) == (True, None)
    assert outcome(checked[chained["challenge_id"]]) == (True, None)
    assert ("hop.example.test", "TXT") in p.dns.queries          # the chain's second hop was asked for
    assert outcome(checked[missing["challenge_id"]]) == (False, "unauthorized")
    assert "No TXT record found at _acme-challenge.api.example.test" in checked[missing["challenge_id"]].payload[
        "detail"]
    assert outcome(checked[wrong["challenge_id"]]) == (False, "incorrectResponse")


def test_dns_01_against_a_failing_dns_server_is_a_dns_problem(pipeline):
    p = pipeline
    p.dns.fail("_acme-challenge.www.example.test", "servfail")
    submitted = p.enrollment.submit("www.example.test", "dns-01")
    record = p.run()[submitted["challenge_id"]]
    assert outcome(record) == (False, "dns") and "SERVFAIL" in record.payload["detail"]


# ---- tls-alpn-01 ------------------------------------------------------------------------------------------------

def test_tls_alpn_01_valid_wrong_digest_wrong_san_and_no_alpn(pipeline):
    p = pipeline
    good = p.enrollment.submit("www.example.test", "tls-alpn-01")
    p.tls.answer("www.example.test", good["key_authorization"])
    checked = p.run()
    assert outcome(checked[good["challenge_id"]]) == (True, None)
    assert "www.example.test" in p.tls.snis

    digest = p.enrollment.submit("www.example.test", "tls-alpn-01")
    p.tls.answer("www.example.test", digest=hashlib.sha256(b"another key authorization").digest())
    assert outcome(p.run()[digest["challenge_id"]]) == (False, "incorrectResponse")

    san = p.enrollment.submit("www.example.test", "tls-alpn-01")
    p.tls.answer("www.example.test", san["key_authorization"], san=["www.example.test", "example.test"])
    assert outcome(p.run()[san["challenge_id"]]) == (False, "unauthorized")

    not_critical = p.enrollment.submit("www.example.test", "tls-alpn-01")
    p.tls.answer("www.example.test", not_critical["key_authorization"], critical=False)
    assert outcome(p.run()[not_critical["challenge_id"]]) == (False, "unauthorized")

    no_alpn = p.enrollment.submit("www.example.test", "tls-alpn-01")
    p.tls.answer("www.example.test", no_alpn["key_authorization"], alpn=False)
    record = p.run()[no_alpn["challenge_id"]]
    assert outcome(record) == (False, "tls") and "acme-tls/1" in record.payload["detail"]


# ---- CAA (public profiles) -------------------------------------------------------------------------------------

def test_caa_parameters_decide_for_public_profiles(pipeline):
    p = pipeline
    other_account = p.enrollment.submit("www.example.test", "dns-01", trust_class="public")
    p.dns.set("_acme-challenge.www.example.test", "TXT", [f'"{txt_value(other_account["key_authorization"])}"'])
    p.dns.set("www.example.test", "CAA", ['0 issue "certplane.test; accounturi=https://certplane.test/acme/acct/1"'])
    record = p.run()[other_account["challenge_id"]]
    assert outcome(record) == (False, "caa") and "acct/1" in record.payload["detail"]
    assert record.payload["caa"]["relevant_name"] == "www.example.test"

    methods = p.enrollment.submit("www.example.test", "dns-01", trust_class="public")
    p.dns.set("_acme-challenge.www.example.test", "TXT", [f'"{txt_value(methods["key_authorization"])}"'])
    p.dns.set("www.example.test", "CAA", [f'0 issue "certplane.test; accounturi={ACCOUNT}; '
                                          'validationmethods=http-01,tls-alpn-01"'])
    assert outcome(p.run()[methods["challenge_id"]]) == (False, "caa")

    allowed = p.enrollment.submit("www.example.test", "dns-01", trust_class="public")
    p.dns.set("_acme-challenge.www.example.test", "TXT", [f'"{txt_value(allowed["key_authorization"])}"'])
    p.dns.set("www.example.test", "CAA", [f'0 issue "certplane.test; accounturi={ACCOUNT}; validationmethods=dns-01"'])
    record = p.run()[allowed["challenge_id"]]
    assert outcome(record) == (True, None) and record.payload["caa"]["result"] == "permitted"

    private = p.enrollment.submit("www.example.test", "dns-01")            # private profiles: CAA not consulted
    p.dns.set("_acme-challenge.www.example.test", "TXT", [f'"{txt_value(private["key_authorization"])}"'])
    p.dns.set("www.example.test", "CAA", ['0 issue "other.ca"'])
    record = p.run()[private["challenge_id"]]
    assert outcome(record) == (True, None) and record.payload["caa"] is None


def test_a_caa_lookup_that_fails_refuses_public_issuance(pipeline):
    p = pipeline
    submitted = p.enrollment.submit("www.example.test", "dns-01", trust_class="public")
    p.dns.set("_acme-challenge.www.example.test", "TXT", [f'"{txt_value(submitted["key_authorization"])}"'])
    p.dns.fail("www.example.test", "servfail")
    assert outcome(p.run()[submitted["challenge_id"]]) == (False, "dns")


# ---- coverage and evidence --------------------------------------------------------------------------------------

def test_a_name_nothing_covers_for_the_organization_is_unauthorized_on_its_own_stream(pipeline):
    p = pipeline
    foreign = p.enrollment.submit("www.example.test", "http-01", organization=OTHER_ORG)
    serve_http(p, foreign)
    elsewhere = p.enrollment.submit("www.unknown.test", "dns-01")
    checked = p.run()
    for submitted in (foreign, elsewhere):
        record = checked[submitted["challenge_id"]]
        assert record.stream_id == f"acme-check-{submitted['challenge_id']}"
        assert outcome(record) == (False, "unauthorized") and record.payload["domain_id"] is None
    assert not any(path.startswith("/.well-known/acme-challenge/") for _m, path, _h in p.web.requests)


def test_a_valid_check_of_the_domains_own_name_becomes_its_dcv_evidence_and_others_do_not(pipeline):
    p = pipeline
    domain_id = p.domain["domain_id"]
    sub = p.enrollment.submit("www.example.test", "http-01")
    serve_http(p, sub)
    record = p.run()[sub["challenge_id"]]
    assert outcome(record) == (True, None) and record.payload["evidence_expires_at"] is None
    assert p.service.get_domain(domain_id)["dcv"]["status"] == "not_validated"

    own = p.enrollment.submit("example.test", "http-01")
    serve_http(p, own)
    record = p.run()[own["challenge_id"]]
    assert outcome(record) == (True, None) and record.payload["evidence_expires_at"] is not None
    shown = p.service.get_domain(domain_id)["dcv"]
    assert (shown["status"], shown["method"]) == ("validated", "acme-http")
    assert shown["evidence_expires_at"] == record.payload["evidence_expires_at"]
    answer = p.service.may_issue(ORG, None, "ssl", "example.test")
    assert answer["fresh_dcv"]
    assert not p.service.may_issue(ORG, None, "ssl", "www.example.test")["fresh_dcv"]   # one host, not below it

    wildcard = p.enrollment.submit("example.test", "dns-01", wildcard=True)
    p.dns.set("_acme-challenge.example.test", "TXT", [f'"{txt_value(wildcard["key_authorization"])}"'])
    p.run()
    assert p.service.get_domain(domain_id)["dcv"]["method"] == "acme-dns"
    assert p.service.may_issue(ORG, None, "ssl", "www.example.test")["fresh_dcv"]      # dns-01 covers below

    again = p.enrollment.submit("example.test", "http-01")                  # narrower: the dns evidence stays
    serve_http(p, again)
    assert outcome(p.run()[again["challenge_id"]]) == (True, None)
    assert p.service.get_domain(domain_id)["dcv"]["method"] == "acme-dns"
    validated = [r for r in p.store.load(f"domain-{domain_id}") if r.event_type == "dcv_validated.v1"]
    assert [r.payload["method"] for r in validated] == ["acme-http", "acme-dns"]
    assert validated[0].payload["dcv_id"] == own["authorization_id"]
    assert validated[0].payload["caa"]["result"] == "no_records"


def test_acme_evidence_needs_no_dcv_attempt_and_leaves_an_open_one_usable(pipeline):
    p = pipeline
    domain_id = p.domain["domain_id"]
    started = p.service.start_dcv(domain_id, {"method": "txt"}, MRAO)["domain"]["dcv"]
    own = p.enrollment.submit("example.test", "dns-01")
    p.dns.set("_acme-challenge.example.test", "TXT", [f'"{txt_value(own["key_authorization"])}"'])
    p.run()
    shown = p.service.get_domain(domain_id)["dcv"]
    assert shown["status"] == "validated" and shown["dcv_id"] == started["dcv_id"]
    p.dns.set(started["dns_name"], "TXT", [f'"{started["expected_value"]}"'])
    assert p.service.check_dcv(domain_id)["outcome"]["validated"]            # the attempt was not used up


# ---- the batch --------------------------------------------------------------------------------------------------

def test_a_batch_is_checked_concurrently_and_exactly_once(pipeline):
    p = pipeline
    slow = [p.enrollment.submit("www.example.test", "http-01") for _ in range(3)]
    for submitted in slow:
        serve_http(p, submitted)
        p.web.slow(f"/.well-known/acme-challenge/{submitted['token']}", 1.0)
    began = time.monotonic()
    checked = p.run()
    took = time.monotonic() - began
    assert all(outcome(checked[s["challenge_id"]]) == (True, None) for s in slow)
    assert took < 2.5, f"three 1 s checks took {took:.1f} s: not concurrent"
    p.run()                                                                   # nothing new: nothing checked again
    assert sum(1 for r in p.store.read_events(0, 1000) if r.event_type == "acme_challenge_checked.v1") == 3
    assert p.processor.position() == len(p.enrollment.log)


def test_a_resubmitted_challenge_is_checked_again(pipeline):
    p = pipeline
    first = p.enrollment.submit("www.example.unknown", "dns-01", challenge_id="same-challenge")
    p.enrollment.submit("www.example.unknown", "dns-01", challenge_id="same-challenge")
    p.run()
    records = [r for r in p.store.load(f"acme-check-{first['challenge_id']}")]
    assert [r.stream_version for r in records] == [1, 2]


def test_an_ip_identifier_is_checked_within_its_delegated_network(pipeline):
    p = pipeline
    network = p.service.create_network({"cidr": "127.0.0.0/24", "delegations": [
        {"organization_id": ORG, "department_id": None, "cert_types": ["ssl"]}]}, MRAO, True)["network"]
    submitted = p.enrollment.submit("127.0.0.1", "http-01")
    serve_http(p, submitted)
    outside = p.enrollment.submit(str(ipaddress.ip_address("10.9.9.9")), "http-01")
    checked = p.run()
    assert outcome(checked[submitted["challenge_id"]]) == (True, None)
    assert checked[submitted["challenge_id"]].stream_id == f"network-{network['network_id']}"
    assert outcome(checked[outside["challenge_id"]]) == (False, "unauthorized")
