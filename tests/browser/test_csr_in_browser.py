"""gateway/console/js/csr.js in a real browser: Debian's Chromium, driven by Playwright for Python.

The key pair and the PKCS#10 request are made by the page (WebCrypto and the module's own DER encoder); Python then
reads them with the cryptography library and with Certplane's own CSR reader, which is what the server will do with
the CSR the console sends.

The browser is the tier's shared one (tests/browser/conftest.py); the console's static files are served from a local HTTP server on 127.0.0.1
with the console's Content-Security-Policy (`script-src 'self'`, no inline script), next to a test-only page that
imports /js/csr.js as a module. Without Chromium or Playwright these tests skip — and fail
instead when CERTPLANE_REQUIRE_BROWSER=1 (CI), so a missing browser never passes for green.
"""
from __future__ import annotations

import http.server
import ipaddress
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.x509.oid import ExtensionOID, NameOID
from eventlet import patcher

from contracts import certificate_rules as rules
from contracts.errors import PolicyViolation
from services.enrollment.csr import parse_csr

# The root conftest monkey-patches the standard library with eventlet; the page's requests must be answered while
# Playwright blocks the test, so the server runs on real OS threads and sockets (as tests/http_server.py does).
socket = patcher.original("socket")
threading = patcher.original("threading")

CONSOLE = Path(__file__).resolve().parents[2] / "gateway" / "console"
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; object-src 'none'; base-uri 'none'; "
       "frame-ancestors 'none'")

TEST_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>csr.js test page</title>
<script type="module" src="/__csr_test__/harness.js"></script></head>
<body><p>csr.js test page</p></body></html>
"""
# No inline script anywhere: the harness is a file, and only puts the module where page.evaluate can reach it.
HARNESS = """import * as csr from "/js/csr.js";
window.csr = csr;
document.documentElement.dataset.ready = "yes";
"""

KEY_TYPES = ["ec-p256", "ec-p384", "rsa-2048", "rsa-3072", "rsa-4096"]
COMMON_NAME = "www.example.com"
# as a user might type them: surrounding blanks, a wildcard, an internal name, an IPv4 and an IPv6 address
SANS_TYPED = ["  www.example.com ", "*.example.com", "build01.corp.internal", "192.0.2.10", " 2001:db8::10 "]
SANS_EXPECTED = [x509.DNSName("www.example.com"), x509.DNSName("*.example.com"),
                 x509.DNSName("build01.corp.internal"), x509.IPAddress(ipaddress.ip_address("192.0.2.10")),
                 x509.IPAddress(ipaddress.ip_address("2001:db8::10"))]
SUBJECT = {"C": "DE", "ST": " Bayern ", "L": "München", "O": "Beispiel GmbH & Co. KG", "OU": "Plattform"}


# ---- the browser and the server ----------------------------------------------------------------------------------

class _ConsoleServer:
    """gateway/console/ at `/`, the test page under /__csr_test__/, every answer with the console's CSP."""

    def __init__(self, page_dir: Path):
        self.page_dir = page_dir
        self.requests: list[str] = []
        self._stopping = threading.Event()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self._listener.settimeout(0.1)
        self.port = self._listener.getsockname()[1]
        self.origin = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._accept_loop, name=f"console-{self.port}", daemon=True)

    def start(self) -> _ConsoleServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(5)
        self._listener.close()

    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                conn, address = self._listener.accept()
            except TimeoutError:
                continue
            threading.Thread(target=self._handle, args=(conn, address), daemon=True).start()

    def _handle(self, conn, address) -> None:
        try:
            conn.settimeout(10)
            _StaticHandler(conn, address, self)
        except OSError:
            pass
        finally:
            conn.close()


class _StaticHandler(http.server.SimpleHTTPRequestHandler):
    server: _ConsoleServer

    def __init__(self, request, client_address, server):
        super().__init__(request, client_address, server, directory=str(CONSOLE))

    def translate_path(self, path: str) -> str:
        self.server.requests.append(path)
        prefix = "/__csr_test__/"
        if path == "/favicon.ico":
            return str(self.server.page_dir / "favicon.ico")
        if path.startswith(prefix):
            return str(self.server.page_dir / Path(path[len(prefix):].split("?")[0]).name)
        return super().translate_path(path)

    def end_headers(self) -> None:
        self.send_header("Content-Security-Policy", CSP)
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, format, *args) -> None:
        pass


@pytest.fixture(scope="module")
def console_server(tmp_path_factory):
    page_dir = tmp_path_factory.mktemp("csr-page")
    (page_dir / "index.html").write_text(TEST_PAGE)
    (page_dir / "harness.js").write_text(HARNESS)
    (page_dir / "favicon.ico").write_bytes(b"")              # so Chromium's favicon request is no 404 error
    server = _ConsoleServer(page_dir).start()
    yield server
    server.stop()


@pytest.fixture
def page(browser, console_server):
    context = browser.new_context(accept_downloads=True)
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("request", lambda r: None if r.url.startswith((console_server.origin + "/", "blob:"))
            else problems.append(f"request to another origin: {r.url}"))
    page.goto(f"{console_server.origin}/__csr_test__/index.html")
    page.wait_for_selector("html[data-ready='yes']", state="attached", timeout=10_000)
    page.problems = problems
    yield page
    context.close()
    # no CSP violation, no script error, nothing fetched from any other host
    assert problems == []


def generate(page, **options) -> dict:
    return page.evaluate("options => window.csr.generateCsr(options)", options)


def refusal(page, **options) -> str:
    """The message of the Error generateCsr rejects with (the test fails if it resolves)."""
    result = page.evaluate("""async options => {
        try { await window.csr.generateCsr(options); return {resolved: true}; }
        catch (e) { return {name: e.name, message: e.message, isError: e instanceof Error}; }
    }""", options)
    assert result.get("isError") is True, result
    return result["message"]


# ---- the CSR for every key type -----------------------------------------------------------------------------

def test_key_types_offered(page):
    offered = page.evaluate("window.csr.KEY_TYPES")
    assert [k["id"] for k in offered] == KEY_TYPES
    assert all(k["label"] for k in offered)
    assert [k["id"] for k in offered if k["default"]] == ["ec-p256"]


@pytest.mark.parametrize("key_type", KEY_TYPES)
def test_csr_for_every_key_type(page, key_type):
    made = generate(page, keyType=key_type, commonName=f"  {COMMON_NAME}\t", sans=SANS_TYPED, subject=SUBJECT)
    assert made["keyType"] == key_type
    assert made["csrPem"].startswith("-----BEGIN CERTIFICATE REQUEST-----\n")
    assert made["csrPem"].endswith("-----END CERTIFICATE REQUEST-----\n")
    assert all(len(line) <= 64 for line in made["csrPem"].splitlines())

    csr = x509.load_pem_x509_csr(made["csrPem"].encode())
    der = csr.public_bytes(serialization.Encoding.DER)
    assert csr.is_signature_valid
    tbs = csr.tbs_certrequest_bytes
    header = 2 + (tbs[1] & 0x7F if tbs[1] & 0x80 else 0)
    assert tbs[header:header + 3] == b"\x02\x01\x00"             # version 0 (PKCS#10 v1)

    # the key
    public_key = csr.public_key()
    if key_type.startswith("ec-"):
        curve, hash_name, sig_oid = {"ec-p256": (ec.SECP256R1, "sha256", "1.2.840.10045.4.3.2"),
                                     "ec-p384": (ec.SECP384R1, "sha384", "1.2.840.10045.4.3.3")}[key_type]
        assert isinstance(public_key, ec.EllipticCurvePublicKey)
        assert isinstance(public_key.curve, curve)
        # AlgorithmIdentifier without parameters (RFC 5758 3.2)
        assert _tlv(0x30, _tlv(0x06, _oid_content(sig_oid))) in der[len(csr.tbs_certrequest_bytes):]
    else:
        hash_name, sig_oid = "sha256", "1.2.840.113549.1.1.11"
        assert isinstance(public_key, rsa.RSAPublicKey)
        assert public_key.key_size == int(key_type.split("-")[1])
        assert public_key.public_numbers().e == 65537
        # sha256WithRSAEncryption with NULL parameters
        assert _tlv(0x30, _tlv(0x06, _oid_content(sig_oid)) + b"\x05\x00") in der[len(csr.tbs_certrequest_bytes):]
    assert csr.signature_algorithm_oid.dotted_string == sig_oid
    assert csr.signature_hash_algorithm.name == hash_name

    # the subject, in order, names trimmed; C a PrintableString, the others UTF8String
    assert [(a.oid, a.value) for a in csr.subject] == [
        (NameOID.COUNTRY_NAME, "DE"), (NameOID.STATE_OR_PROVINCE_NAME, "Bayern"), (NameOID.LOCALITY_NAME, "München"),
        (NameOID.ORGANIZATION_NAME, "Beispiel GmbH & Co. KG"), (NameOID.ORGANIZATIONAL_UNIT_NAME, "Plattform"),
        (NameOID.COMMON_NAME, COMMON_NAME)]
    assert _tlv(0x06, b"\x55\x04\x06") + _tlv(0x13, b"DE") in der
    assert _tlv(0x06, b"\x55\x04\x07") + _tlv(0x0C, "München".encode()) in der
    assert _tlv(0x06, b"\x55\x04\x03") + _tlv(0x0C, COMMON_NAME.encode()) in der

    # the requested subjectAltName, exactly; not critical (the subject is not empty); the only extension
    assert len(csr.extensions) == 1
    san = csr.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME)
    assert san.critical is False
    assert list(san.value) == SANS_EXPECTED
    assert len(csr.attributes) == 1                          # extensionRequest only, no challengePassword …

    # the private key: PKCS#8 PEM, unencrypted, the CSR's own key
    assert made["privateKeyPem"].startswith("-----BEGIN PRIVATE KEY-----\n")
    assert made["privateKeyPem"].endswith("-----END PRIVATE KEY-----\n")
    private_key = serialization.load_pem_private_key(made["privateKeyPem"].encode(), password=None)
    assert private_key.public_key() == public_key
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    assert (private_key.public_key().public_bytes(serialization.Encoding.DER, spki)
            == public_key.public_bytes(serialization.Encoding.DER, spki))

    # and Certplane's own CSR reader takes it: key judged, signature verified, names normalised
    parsed = parse_csr(made["csrPem"])
    assert parsed.key_type == key_type
    assert parsed.subject_common_name == COMMON_NAME
    assert parsed.dns_names == ("www.example.com", "*.example.com", "build01.corp.internal")
    assert parsed.ip_addresses == ("192.0.2.10", "2001:db8::10")
    for trust_class in ("private", "public"):
        assert rules.names_from_csr("ssl", trust_class, parsed.names, parsed.subject_common_name) == parsed.names


def test_many_ecdsa_signatures_are_valid_der(page):
    """r and s are random: over many signatures some need the INTEGER's leading 0x00, some have leading zeros to
    drop. Every one must verify (OpenSSL refuses a non-canonical ECDSA DER signature)."""
    pems = page.evaluate("""async () => {
        const out = [];
        for (let i = 0; i < 40; i++) {
            out.push((await window.csr.generateCsr({keyType: i % 2 ? "ec-p384" : "ec-p256",
                                                    sans: [`host${i}.example.com`]})).csrPem);
        }
        return out;
    }""")
    for i, text in enumerate(pems):
        csr = x509.load_pem_x509_csr(text.encode())
        assert csr.is_signature_valid, i
        assert parse_csr(text).dns_names == (f"host{i}.example.com",)


def test_names_only_in_the_san(page):
    """No CN and no other subject attribute: an empty subject, so the subjectAltName is critical (RFC 5280 4.2.1.6);
    IDNs are written as A-labels; repeats are dropped."""
    made = generate(page, sans=["bücher.example", "*.Example.ORG", "bücher.example", "::ffff:192.0.2.1", "::1"])
    csr = x509.load_pem_x509_csr(made["csrPem"].encode())
    assert made["keyType"] == "ec-p256"                      # the default
    assert csr.is_signature_valid
    assert len(csr.subject) == 0
    san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert san.critical is True
    assert list(san.value) == [x509.DNSName("xn--bcher-kva.example"), x509.DNSName("*.example.org"),
                               x509.IPAddress(ipaddress.ip_address("::ffff:192.0.2.1")),
                               x509.IPAddress(ipaddress.ip_address("::1"))]
    parsed = parse_csr(made["csrPem"])
    assert parsed.subject_common_name is None
    assert parsed.dns_names == ("xn--bcher-kva.example", "*.example.org")


def test_common_name_only(page):
    """A CN and no SAN: no extensionRequest at all; the server reads the CN as the name under a private profile and
    refuses it under the public class (csr_san_required)."""
    made = generate(page, keyType="ec-p256", commonName=" intranet.corp.internal ")
    csr = x509.load_pem_x509_csr(made["csrPem"].encode())
    assert csr.is_signature_valid
    assert len(csr.attributes) == 0
    assert len(csr.extensions) == 0
    assert [(a.oid, a.value) for a in csr.subject] == [(NameOID.COMMON_NAME, "intranet.corp.internal")]
    parsed = parse_csr(made["csrPem"])
    assert rules.names_from_csr("ssl", "private", parsed.names, parsed.subject_common_name) == (
        "intranet.corp.internal",)
    with pytest.raises(PolicyViolation) as refused:
        rules.names_from_csr("ssl", "public", parsed.names, parsed.subject_common_name)
    assert refused.value.code == "csr_san_required"


# ---- refusals ---------------------------------------------------------------------------------------------------

def test_refuses_no_name(page):
    for options in ({"commonName": "", "sans": []}, {"commonName": "   ", "sans": ["  ", ""]}, {}):
        message = refusal(page, keyType="ec-p256", **options)
        assert "needs a name" in message and "common name" in message and "subject alternative name" in message


def test_refuses_unknown_key_type(page):
    for key_type in ("rsa-1024", "ed25519", "EC-P256", "toString", "__proto__"):
        message = refusal(page, keyType=key_type, commonName=COMMON_NAME)
        assert f'unknown key type "{key_type}"' in message
        assert "ec-p256, ec-p384, rsa-2048, rsa-3072, rsa-4096" in message


@pytest.mark.parametrize(("options", "words"), [
    ({"sans": ["192.0.2.256"]}, '"192.0.2.256" is not a valid IP address'),
    ({"sans": ["fe80::1%eth0"]}, "not a valid IP address"),
    ({"sans": ["1::2::3"]}, "not a valid IP address"),
    ({"sans": ["foo bar.example"]}, "not a valid DNS name"),
    ({"sans": ["-a.example"]}, "not a valid DNS name"),
    ({"commonName": "a.example", "subject": {"C": "Germany"}}, "two-letter"),
    ({"commonName": "x" * 65}, "common name is longer than 64"),
])
def test_refuses_what_cannot_be_encoded(page, options, words):
    assert words in refusal(page, **options)


# ---- the DER encoder's pieces against known encodings -----------------------------------------------------------

def test_der_encoder(page):
    got = page.evaluate("""() => {
        const d = window.csr.der, hex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
        return {
            len0: hex(d.encodeLength(0)), len127: hex(d.encodeLength(127)), len128: hex(d.encodeLength(128)),
            len255: hex(d.encodeLength(255)), len256: hex(d.encodeLength(256)), len70000: hex(d.encodeLength(70000)),
            longOctets: hex(d.octetString(new Uint8Array(300)).subarray(0, 5)),
            int0: hex(d.integer(0)), int127: hex(d.integer(127)), int128: hex(d.integer(128)),
            int256: hex(d.integer(256)), intBytesZeros: hex(d.integer(Uint8Array.of(0, 0, 0x7f))),
            intBytesHigh: hex(d.integer(Uint8Array.of(0xff, 1))), intBytesAllZero: hex(d.integer(Uint8Array.of(0, 0))),
            oidRsa: hex(d.oid("1.2.840.113549")), oidCn: hex(d.oid("2.5.4.3")), oid2999: hex(d.oid("2.999.3")),
            oidBig: hex(d.oid("2.25.329800735698586629295641978511506172918")),
            utf8: hex(d.utf8String("ä")), printable: hex(d.printableString("DE")),
            bits: hex(d.bitString(Uint8Array.of(1, 2))), nul: hex(d.nullValue()),
            seq: hex(d.sequence(d.integer(1), d.nullValue())),
            set: hex(d.set(d.integer(2), d.integer(1))),
            ctxC: hex(d.context(0, [d.integer(1)])), ctxP: hex(d.context(2, Uint8Array.of(0x61), false)),
            badPrintable: (() => { try { d.printableString("a@b"); return "accepted"; } catch (e) { return e.message; } })(),
            badOid: (() => { try { d.oid("1.40"); return "accepted"; } catch (e) { return e.message; } })(),
        };
    }""")
    assert got["len0"] == "00" and got["len127"] == "7f" and got["len128"] == "8180"
    assert got["len255"] == "81ff" and got["len256"] == "820100" and got["len70000"] == "83011170"
    assert got["longOctets"] == "0482012c00"
    assert got["int0"] == "020100" and got["int127"] == "02017f" and got["int128"] == "02020080"
    assert got["int256"] == "02020100"
    assert got["intBytesZeros"] == "02017f" and got["intBytesHigh"] == "020300ff01"
    assert got["intBytesAllZero"] == "020100"
    assert got["oidRsa"] == "06062a864886f70d" and got["oidCn"] == "0603550403" and got["oid2999"] == "0603883703"
    # 2.25.<UUID as integer> (X.667): cryptography's own encoding of the same OID
    big = x509.ObjectIdentifier("2.25.329800735698586629295641978511506172918")
    name = x509.Name([x509.NameAttribute(big, "x")]).public_bytes()
    assert bytes.fromhex(got["oidBig"]) in name
    assert got["utf8"] == "0c02c3a4" and got["printable"] == "13024445"
    assert got["bits"] == "0303000102" and got["nul"] == "0500"
    assert got["seq"] == "30050201010500" and got["set"] == "3106020101020102"     # SET OF sorted
    assert got["ctxC"] == "a003020101" and got["ctxP"] == "820161"
    assert "PrintableString" in got["badPrintable"] and "bad OID" in got["badOid"]


def test_ecdsa_raw_to_der(page):
    """The r||s → Ecdsa-Sig-Value conversion on the edge cases, against cryptography's encoder."""
    size = 32
    cases = [
        (1, 1), (0x7F << 248, 0x80 << 248),          # top bit clear / set (needs a 0x00)
        (0x00FF << 232, 5), (2**256 - 1, 2**255),  # leading zero octet to drop; all ones
        (0x80, 0x7F),                                 # mostly zero octets, small values
    ]
    for r, s in cases:
        raw = r.to_bytes(size, "big") + s.to_bytes(size, "big")
        got = page.evaluate("([raw, size]) => Array.from(window.csr.ecdsaRawToDer(Uint8Array.from(raw), size))",
                            [list(raw), size])
        assert bytes(got) == encode_dss_signature(r, s), (hex(r), hex(s))
    message = page.evaluate("""() => { try { window.csr.ecdsaRawToDer(new Uint8Array(63), 32); return "accepted"; }
                                       catch (e) { return e.message; } }""")
    assert "expected 64" in message


@pytest.mark.parametrize("text", ["0.0.0.0", "255.255.255.255", "192.0.2.1", "::", "::1", "1::", "2001:db8::1",
                                  "2001:DB8:0:0:1:0:0:1", "fe80::a:b:c:d", "::ffff:192.0.2.1", "64:ff9b::10.0.0.1",
                                  "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:1.2.3.4", "1:0:0:0:0:0:0:0"])
def test_ip_address_bytes(page, text):
    got = page.evaluate("t => window.csr.ipAddressBytes(t) && Array.from(window.csr.ipAddressBytes(t))", text)
    assert bytes(got) == ipaddress.ip_address(text).packed


@pytest.mark.parametrize("text", ["1.2.3", "1.2.3.4.5", "01.2.3.4", "1.2.3.256", ":::", "1:2:3:4:5:6:7",
                                  "1:2:3:4:5:6:7:8:9", "1::2:3:4:5:6:7:8", "g::1", "12345::", "fe80::1%eth0",
                                  "::1.2.3", "1.2.3.4::"])
def test_ip_address_bytes_refuses(page, text):
    assert page.evaluate("t => window.csr.ipAddressBytes(t)", text) is None


# ---- the download -----------------------------------------------------------------------------------------------

def test_download_text(page, console_server):
    """The private key offered as a file: a Blob behind an object URL (no data: URL), revoked afterwards."""
    page.evaluate("""() => {
        window.createdUrls = []; window.revokedUrls = [];
        const create = URL.createObjectURL.bind(URL), revoke = URL.revokeObjectURL.bind(URL);
        URL.createObjectURL = (blob) => { const u = create(blob); window.createdUrls.push(u); return u; };
        URL.revokeObjectURL = (u) => { window.revokedUrls.push(u); revoke(u); };
    }""")
    made = generate(page, keyType="ec-p256", commonName=COMMON_NAME)
    with page.expect_download() as info:
        page.evaluate("text => window.csr.downloadText('www.example.com.key', text, 'application/x-pem-file')",
                      made["privateKeyPem"])
    download = info.value
    assert download.suggested_filename == "www.example.com.key"
    assert Path(download.path()).read_text() == made["privateKeyPem"]
    urls = page.evaluate("window.createdUrls")
    assert len(urls) == 1 and urls[0].startswith(f"blob:{console_server.origin}/")
    assert page.evaluate("document.querySelectorAll('a[download]').length") == 0      # the link is gone
    page.wait_for_timeout(1500)
    assert page.evaluate("window.revokedUrls") == urls
    # nothing but the console's own files was fetched; the key went nowhere
    assert not [p for p in console_server.requests if not p.startswith(("/js/", "/__csr_test__/", "/favicon"))]


def _tlv(tag: int, content: bytes) -> bytes:
    n = len(content)
    length = bytes([n]) if n < 128 else bytes([0x80 | ((n.bit_length() + 7) // 8)]) + n.to_bytes(
        (n.bit_length() + 7) // 8, "big")
    return bytes([tag]) + length + content


def _oid_content(dotted: str) -> bytes:
    arcs = [int(a) for a in dotted.split(".")]
    out = bytearray()
    for value in [arcs[0] * 40 + arcs[1], *arcs[2:]]:
        chunk = [value & 0x7F]
        value >>= 7
        while value:
            chunk.insert(0, 0x80 | (value & 0x7F))
            value >>= 7
        out += bytes(chunk)
    return bytes(out)

