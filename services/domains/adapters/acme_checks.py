"""The outside I/O of ACME challenge checks (RFC 8555 §8.3, §8.4; RFC 8737) and their CAA (RFC 8659, RFC 8657):
each check answers a `CheckResult` — valid, or the RFC 8555 problem type (contracts.acme.CHECK_PROBLEMS) with one
sentence saying what was found. Nothing here raises for what the checked server did; the processor records it.

- **http-01**: GET `http://<identifier>:<port>/.well-known/acme-challenge/<token>` through the DCV fetcher
  (http_fetch.py: every address checked against SSRF, the socket pinned to it, one deadline); redirects are followed
  up to 10 times to any host over http or https on the standard ports (80/443; the http port is the test knob
  `acme_http_port`). The body, trailing whitespace removed, must be the key authorization. No address, or only
  addresses that are not fetched from -> `dns`; no connection, timeout, a refused redirect or a broken answer ->
  `connection`; TLS after an https redirect failed -> `tls`; an answer that is not 2xx, too large, or another
  body -> `incorrectResponse`.
- **dns-01**: TXT at `_acme-challenge.<identifier>`, following CNAMEs to the end of the chain (dns.py `_chased`); a
  value must be base64url(SHA-256(key authorization)) without padding. No TXT record at all (NXDOMAIN, or none of
  that type) -> `unauthorized`, as boulder ("No TXT record found"); TXT records none of which is the value ->
  `incorrectResponse` (RFC 8555 §6.7: the answer does not match the challenge); the DNS server failing -> `dns`.
- **tls-alpn-01**: TLS to `<identifier>:<port>` with SNI = the identifier (an IP address: its reverse-DNS name,
  RFC 8738 §6) and ALPN `acme-tls/1` only, no certificate verification. No connection -> `connection`; the
  handshake failing, or a server that does not select acme-tls/1 -> `tls`; a certificate whose SAN is not exactly
  the identifier, or without a critical acmeIdentifier extension (1.3.6.1.5.5.7.1.31) -> `unauthorized`; an
  acmeIdentifier that is not the DER OCTET STRING of SHA-256(key authorization) -> `incorrectResponse`.
- **CAA** (public profiles only; the caller decides): the closest RRset for the name (`*.x` uses issuewild),
  decided by caa.py with the ACME account URI and challenge type, so `accounturi` and `validationmethods` count.
  A lookup that fails is `dns` (fail closed); a refusal is `caa`.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import socket
import ssl
from dataclasses import dataclass

from asn1crypto.core import OctetString
from cryptography import x509
from cryptography.x509.oid import ObjectIdentifier

from services.domains.adapters.deadline import Deadline
from services.domains.adapters.dns import DnsClient, DnsLookupFailed
from services.domains.adapters.http_fetch import FetchFailed, HttpFetcher
from services.domains.caa import CaaDecision, decide_caa

CHALLENGE_PATH = "/.well-known/acme-challenge/"
ACME_TLS_ALPN = "acme-tls/1"
ACME_IDENTIFIER_OID = ObjectIdentifier("1.3.6.1.5.5.7.1.31")
MAX_REDIRECTS = 10
MAX_BODY = 4096                   # a key authorization is ~90 bytes
FETCH_PROBLEMS = {"http_no_address": "dns", "http_address_refused": "dns", "http_connect_failed": "connection",
                  "http_timeout": "connection", "http_bad_response": "connection", "http_bad_url": "connection",
                  "http_redirect_refused": "connection", "http_too_many_redirects": "connection",
                  "http_tls_failed": "tls", "http_status": "incorrectResponse", "http_too_large": "incorrectResponse"}


@dataclass(frozen=True)
class CheckResult:
    valid: bool
    problem_type: str | None      # when not valid: contracts.acme.CHECK_PROBLEMS
    detail: str


def valid(detail: str) -> CheckResult:
    return CheckResult(True, None, detail)


def invalid(problem_type: str, detail: str) -> CheckResult:
    return CheckResult(False, problem_type, detail)


def txt_value(key_authorization: str) -> str:
    """The dns-01 TXT value: base64url(SHA-256(key authorization)), no padding (RFC 8555 §8.4)."""
    digest = hashlib.sha256(key_authorization.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def _shown(text: str, limit: int = 80) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")


class AcmeChecks:
    def __init__(self, dns: DnsClient, allow_private: bool, http_port: int, tls_port: int, timeout: float,
                 caa_identities: tuple[str, ...]):
        """`timeout` bounds each check (and each CAA lookup) as a whole; `allow_private` lifts the address guard
        (tests, private deployments) as for DCV (settings.dcv_http_allow_private)."""
        self.dns = dns
        self.http_port = http_port
        self.tls_port = tls_port
        self.timeout = timeout
        self.caa_identities = caa_identities
        self.fetcher = HttpFetcher(lambda host, deadline: dns.addresses(host, deadline, follow_cnames=True),
                                   allow_private, timeout, max_bytes=MAX_BODY, max_redirects=MAX_REDIRECTS,
                                   redirect_ports={"http": frozenset({80, http_port}), "https": frozenset({443})})

    def check(self, challenge_type: str, identifier: str, token: str, key_authorization: str) -> CheckResult:
        """The check of one challenge, within `timeout`."""
        deadline = Deadline(self.timeout)
        if challenge_type == "http-01":
            return self.http_01(identifier, token, key_authorization, deadline)
        if challenge_type == "dns-01":
            return self.dns_01(identifier, key_authorization, deadline)
        if challenge_type == "tls-alpn-01":
            return self.tls_alpn_01(identifier, key_authorization, deadline)
        return invalid("serverInternal", f"{challenge_type} is not a challenge type this server checks")

    # ---- http-01 ------------------------------------------------------------------------------------------
    def http_01(self, identifier: str, token: str, key_authorization: str, deadline: Deadline) -> CheckResult:
        host = f"[{identifier}]" if ":" in identifier else identifier
        authority = host if self.http_port == 80 else f"{host}:{self.http_port}"
        url = f"http://{authority}{CHALLENGE_PATH}{token}"
        try:
            body = self.fetcher.get(url, deadline)
        except FetchFailed as exc:
            return invalid(FETCH_PROBLEMS.get(exc.reason, "connection"), exc.detail)
        except DnsLookupFailed as exc:
            return invalid("dns", str(exc))
        except TimeoutError:
            return invalid("connection", f"{url} did not answer within {self.timeout:g} s")
        content = body.decode("utf-8", errors="replace").rstrip()
        if hmac.compare_digest(content.encode(), key_authorization.encode()):
            return valid(f"{url} answered the key authorization")
        return invalid("incorrectResponse", f"{url} answered {_shown(content)}, not the key authorization "
                                            f"{_shown(key_authorization)}")

    # ---- dns-01 -------------------------------------------------------------------------------------------
    def dns_01(self, identifier: str, key_authorization: str, deadline: Deadline) -> CheckResult:
        name = f"_acme-challenge.{identifier.removeprefix('*.')}"
        expected = txt_value(key_authorization)
        try:
            values = [v.strip() for v in self.dns.txt(name, deadline, follow_cnames=True)]
        except DnsLookupFailed as exc:
            return invalid("dns", str(exc))
        if expected in values:
            return valid(f"TXT {name} holds the key authorization's digest")
        if not values:
            return invalid("unauthorized", f"No TXT record found at {name}")
        found = ", ".join(_shown(v) for v in values[:5])
        return invalid("incorrectResponse", f"Incorrect TXT record {found} at {name}: expected {expected!r}")

    # ---- tls-alpn-01 --------------------------------------------------------------------------------------
    def tls_alpn_01(self, identifier: str, key_authorization: str, deadline: Deadline) -> CheckResult:
        address_identifier = _ip(identifier)
        sni = address_identifier.reverse_pointer if address_identifier is not None else identifier
        where = f"{identifier} port {self.tls_port}"
        try:
            addresses = self.fetcher.checked_addresses(identifier, deadline)
            certificate, protocol = self._handshake(addresses, sni, deadline)
        except FetchFailed as exc:
            return invalid(FETCH_PROBLEMS.get(exc.reason, "connection"), exc.detail)
        except DnsLookupFailed as exc:
            return invalid("dns", str(exc))
        except TimeoutError:
            return invalid("connection", f"{where} did not complete a TLS handshake within {self.timeout:g} s")
        except ssl.SSLError as exc:
            return invalid("tls", f"the TLS handshake with {where} (ALPN {ACME_TLS_ALPN}) failed: "
                                  f"{exc.reason or exc}")
        except OSError as exc:
            return invalid("connection", f"could not connect to {where}: {exc.strerror or exc}")
        if protocol != ACME_TLS_ALPN:
            return invalid("tls", f"{where} did not negotiate the ALPN protocol {ACME_TLS_ALPN} "
                                  f"(it chose {protocol or 'none'})")
        return _judge_certificate(certificate, identifier, address_identifier, key_authorization, where)

    def _handshake(self, addresses: list[str], sni: str, deadline: Deadline) -> tuple[bytes | None, str | None]:
        """(the server's certificate, DER; the selected ALPN protocol) from the first address that connects."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE                 # the certificate is self-signed by design (RFC 8737)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.set_alpn_protocols([ACME_TLS_ALPN])
        failure: OSError | None = None
        for address in addresses:
            sock = socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET, socket.SOCK_STREAM)
            try:
                sock.settimeout(deadline.left())
                sock.connect((address, self.tls_port))
            except TimeoutError:
                sock.close()
                raise
            except OSError as exc:
                sock.close()
                failure = exc
                continue
            try:
                sock.settimeout(deadline.left())
                with context.wrap_socket(sock, server_hostname=sni) as tls:
                    return tls.getpeercert(binary_form=True), tls.selected_alpn_protocol()
            finally:
                sock.close()
        raise failure or OSError("no address to connect to")

    # ---- CAA ----------------------------------------------------------------------------------------------
    def caa(self, name: str, account_uri: str | None = None, challenge_type: str | None = None
            ) -> tuple[CaaDecision | None, CheckResult | None]:
        """CAA for `name` (`*.x` for a wildcard), within `timeout`: (the decision, None when it permits) — or
        (None, a `dns` problem) when the lookup failed, (decision, a `caa` problem) when CAA forbids."""
        try:
            relevant, records = self.dns.caa(name, Deadline(self.timeout))
        except DnsLookupFailed as exc:
            return None, invalid("dns", f"CAA could not be checked, so nothing is issued: {exc}")
        decision = decide_caa(relevant, records, self.caa_identities, name.startswith("*."), account_uri,
                              challenge_type)
        return decision, None if decision.permitted else invalid("caa", decision.detail)


def caa_record(name: str, decision: CaaDecision) -> dict:
    """A CAA decision as events carry it (contracts.domains CaaV1's fields; `result` null when it forbids)."""
    return {"result": decision.result, "checked_name": name, "relevant_name": decision.relevant_name,
            "records": list(decision.records)}


def _ip(identifier: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(identifier)
    except ValueError:
        return None


def _judge_certificate(der: bytes | None, identifier: str, address, key_authorization: str,
                       where: str) -> CheckResult:
    """RFC 8737 §3 (RFC 8738 §6 for an address): exactly one SAN, the identifier; a critical acmeIdentifier
    extension holding the DER OCTET STRING of SHA-256(key authorization)."""
    if not der:
        return invalid("unauthorized", f"{where} presented no certificate")
    try:
        certificate = x509.load_der_x509_certificate(der)
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return invalid("unauthorized", f"the certificate {where} presented has no subjectAltName")
    except ValueError as exc:
        return invalid("unauthorized", f"the certificate {where} presented cannot be parsed: {exc}")
    names = list(san)
    wanted = x509.IPAddress(address) if address is not None else None
    if address is not None:
        right = names == [wanted]
    else:
        right = len(names) == 1 and isinstance(names[0], x509.DNSName) and names[0].value.lower() == identifier
    if not right:
        shown = ", ".join(str(getattr(n, "value", n)) for n in names) or "none"
        return invalid("unauthorized", f"the certificate {where} presented must name exactly {identifier} in its "
                                       f"subjectAltName; it names {shown}")
    try:
        extension = certificate.extensions.get_extension_for_oid(ACME_IDENTIFIER_OID)
    except x509.ExtensionNotFound:
        return invalid("unauthorized", f"the certificate {where} presented has no acmeIdentifier extension "
                                       f"({ACME_IDENTIFIER_OID.dotted_string})")
    except ValueError as exc:
        return invalid("unauthorized", f"the certificate {where} presented has a malformed extension: {exc}")
    if not extension.critical:
        return invalid("unauthorized", f"the acmeIdentifier extension of the certificate {where} presented is not "
                                       "marked critical")
    raw = extension.value.value if isinstance(extension.value, x509.UnrecognizedExtension) else b""
    try:
        digest = OctetString.load(raw, strict=True).native
    except ValueError:
        return invalid("incorrectResponse", f"the acmeIdentifier extension of the certificate {where} presented "
                                            "is not a DER OCTET STRING")
    expected = hashlib.sha256(key_authorization.encode()).digest()
    if not isinstance(digest, bytes) or not hmac.compare_digest(digest, expected):
        held = digest.hex() if isinstance(digest, bytes) else repr(digest)
        return invalid("incorrectResponse", f"the acmeIdentifier extension of the certificate {where} presented "
                                            f"holds {held}, not the SHA-256 of the key authorization "
                                            f"({expected.hex()})")
    return valid(f"{where} answered with ALPN {ACME_TLS_ALPN} and a certificate for {identifier} holding the key "
                 "authorization's digest")
