"""Domain names: how a typed name becomes the stored one, and which stored domains cover a certificate name.
Shared by `domains` (what may be delegated) and `enrollment` (what a certificate may name), so both apply one rule.
Pure: no I/O (the public-suffix list is the `publicsuffixlist` package's bundled copy).

Normalised: lower case, IDN labels as A-labels (IDNA 2008 with UTS #46 mapping, `idna`), no trailing dot,
letters/digits/hyphens only (no underscore), labels of 1–63 characters, at most 253 in all, not an IP address,
not a public suffix (`com`, `co.uk`, `github.io`). A wildcard is `*.` followed by such a name; only the leftmost
label may be `*`.

**Internal names** are names a company's own DNS answers and the public DNS does not: their top-level label is not
in the public-suffix list (`host.corp.internal`, `printer.lan`, `nas.local`, `*.corp.internal`), or they are a
single label (`intranet`). They are valid names here — private PKIs exist for them — and `is_internal` tells them
apart, so the public trust class can refuse them (CA/Browser Forum BR 7.1.2.7.12: no Internal Names). A single
label that is itself a public suffix (`com`) is refused everywhere.

IP addresses are not domain names; `ip_address` normalises one for an iPAddress SAN (IPv4 dotted, IPv6 compressed,
RFC 5952) and `is_ip_address` tells whether a typed name is one.
"""
from __future__ import annotations

import functools
import ipaddress
import re

import idna
from publicsuffixlist import PublicSuffixList

from contracts.errors import InvalidRequest

_PSL = PublicSuffixList()
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
MAX_NAME = 253


def _bad(name: str, why: str) -> InvalidRequest:
    return InvalidRequest(f"{name!r} is not a valid domain name: {why}", {"name": [why]}, code="invalid_domain_name")


@functools.lru_cache(maxsize=65536)
def normalise(typed: str) -> str:
    """The stored form of a domain name as typed, or InvalidRequest (400, code invalid_domain_name) saying why."""
    if not isinstance(typed, str) or not typed.strip():
        raise _bad(str(typed), "empty")
    name = typed.strip().rstrip(".")
    wildcard = name.startswith("*.")
    base = name[2:] if wildcard else name
    if "*" in base:
        raise _bad(typed, "only the leftmost label may be a wildcard '*'")
    if is_ip_address(base):
        raise _bad(typed, "an IP address is not a domain name")
    try:
        ascii_name = idna.encode(base, uts46=True, std3_rules=True).decode("ascii")
    except idna.IDNAError as exc:
        raise _bad(typed, _idna_reason(str(exc))) from None
    labels = ascii_name.split(".")
    for label in labels:
        if not _LABEL.match(label):
            raise _bad(typed, f"label {label!r} must be 1-63 letters, digits or hyphens, not starting or ending "
                              "with a hyphen")
    if len(ascii_name) + (2 if wildcard else 0) > MAX_NAME:
        raise _bad(typed, f"longer than {MAX_NAME} characters")
    if labels[-1].isdigit():
        raise _bad(typed, "the top-level label is numeric")
    if _is_known_suffix(ascii_name):
        raise _bad(typed, f"{ascii_name} is a public suffix (anyone can register names under it)")
    return f"*.{ascii_name}" if wildcard else ascii_name


def _is_known_suffix(ascii_name: str) -> bool:
    """A suffix the public-suffix list names (`com`, `co.uk`, `github.io`); an unknown top-level label (`lan`,
    `internal`) is not one: names under it, and it alone, are internal names."""
    return _PSL.publicsuffix(ascii_name, accept_unknown=False) == ascii_name


@functools.lru_cache(maxsize=65536)
def is_internal(name: str) -> bool:
    """Whether a normalised name (or wildcard) is an internal name: one label, or a top-level label the
    public-suffix list does not know. Public TLS certificates may not carry one."""
    base = base_name(name)
    return "." not in base or _PSL.publicsuffix(base, accept_unknown=False) is None


def is_ip_address(typed: str) -> bool:
    try:
        ipaddress.ip_address(str(typed).strip().strip("[]"))
        return True
    except ValueError:
        return False


def ip_address(typed: str) -> str:
    """The normalised text of an IPv4 or IPv6 address (RFC 5952 for IPv6), or InvalidRequest (400,
    invalid_ip_address). A zone index (`fe80::1%eth0`) or a prefix is not an address."""
    text = str(typed).strip().strip("[]")
    try:
        if "%" in text:
            raise ValueError("a zone index is local to one host")
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise InvalidRequest(f"{typed!r} is not an IP address", {"name": ["not an IPv4 or IPv6 address"]},
                             code="invalid_ip_address") from None


def _idna_reason(message: str) -> str:
    if "too long" in message.lower():
        return "a label is longer than 63 characters, or the name longer than 253"
    if "U+005F" in message:
        return "'_' is not allowed in a host name"
    return message


def base_name(name: str) -> str:
    """The name without a leading wildcard label: where DCV and CAA are done for it."""
    return name[2:] if name.startswith("*.") else name


def is_wildcard(name: str) -> bool:
    return name.startswith("*.")


def covering_entries(name: str) -> list[str]:
    """Every domain entry that would cover the (normalised) certificate name, closest first: the name itself, and
    for each parent P of it (and of its base), P and `*.P` when the name lies below P. A delegated domain covers
    its subdomains; a wildcard entry `*.P` covers names below P (and `*.P`), not P itself."""
    labels = base_name(name).split(".")
    entries = [name]
    for i in range(len(labels) - 1):
        parent = ".".join(labels[i:])
        entries.append(parent)
        if is_wildcard(name) or i > 0:                 # the name lies strictly below `parent`
            entries.append(f"*.{parent}")
    return list(dict.fromkeys(entries))


def evidence_covers(domain_name: str, method: str, name: str) -> bool:
    """Does DCV evidence for the domain entry cover the certificate name? Email and DNS methods (ACME dns-01,
    `acme-dns`, among them) prove control of the domain and everything below it; the HTTP(S) file method and ACME
    http-01 and tls-alpn-01 (`acme-http`, `acme-alpn`) prove only the exact host name and never a wildcard
    (BR 3.2.2.4.18, 3.2.2.4.19, 3.2.2.4.20)."""
    base = base_name(domain_name)
    if method in ("http", "https", "acme-http", "acme-alpn"):
        return name == base
    return name == base or base_name(name) == base or name.endswith("." + base)
