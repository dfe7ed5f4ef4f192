"""The domains service's only DNS I/O: TXT, CNAME, addresses and the CAA climb, with dnspython.

Every lookup goes to one resolver (CERTPLANE_DNS_RESOLVER, or the system's) without a cache, so a record the user
has just published is seen at once. NXDOMAIN and "no records of that type" are answers (empty); a server failure or
timeout is retried once and then raised as DnsLookupFailed, so callers can fail closed.
"""
from __future__ import annotations

import dns.exception
import dns.name
import dns.resolver
import dns.rrset

from services.domains.caa import CaaRecord


class DnsLookupFailed(Exception):
    """No usable answer (SERVFAIL, REFUSED, timeout, ...) for `rdtype` at `name`, after one retry."""

    def __init__(self, name: str, rdtype: str, detail: str):
        super().__init__(f"{rdtype} lookup of {name} failed: {detail}")
        self.name = name
        self.rdtype = rdtype
        self.detail = detail


def _host_port(resolver: str) -> tuple[str, int]:
    """'host', 'host:port', '[v6]:port' or a bare IPv6 address."""
    if resolver.startswith("["):
        host, _, rest = resolver[1:].partition("]")
        return host, int(rest.removeprefix(":") or 53)
    if resolver.count(":") == 1:
        host, port = resolver.split(":")
        return host, int(port)
    return resolver, 53


class DnsClient:
    def __init__(self, resolver: str | None, timeout: float = 5.0):
        """`resolver` is an IP address with an optional port (default 53); None uses /etc/resolv.conf.
        `timeout` bounds one lookup; a failed lookup is tried twice."""
        if resolver is None:
            self._resolver = dns.resolver.Resolver()
        else:
            host, port = _host_port(resolver)
            self._resolver = dns.resolver.Resolver(configure=False)
            self._resolver.nameservers = [host]
            self._resolver.port = port
        self._resolver.lifetime = timeout

    def txt(self, name: str) -> list[str]:
        """Each TXT record's strings joined (as RFC 7208 does), decoded as UTF-8."""
        rrset = self._rrset(name, "TXT")
        return [b"".join(r.strings).decode("utf-8", errors="replace") for r in rrset or ()]

    def cname(self, name: str) -> str | None:
        """The target of the CNAME at `name` itself (the chain is not followed), lower case, no trailing dot."""
        rrset = self._rrset(name, "CNAME")
        return rrset[0].target.to_text(omit_final_dot=True).lower() if rrset else None

    def addresses(self, name: str) -> list[str]:
        """Every A and AAAA address of `name` (after CNAMEs)."""
        return [r.address for rdtype in ("A", "AAAA") for r in self._rrset(name, rdtype) or ()]

    def caa(self, name: str) -> tuple[str | None, list[CaaRecord]]:
        """The closest CAA RRset (RFC 8659 §3): `name`, then each parent up to the TLD. `*.x` starts at `x`.
        Returns (where it was found, records), or (None, []) when no name on the way has one."""
        labels = name.removeprefix("*.").split(".")
        for i in range(len(labels)):
            candidate = ".".join(labels[i:])
            rrset = self._rrset(candidate, "CAA")
            if rrset:
                return candidate, [CaaRecord(r.flags, r.tag.decode("ascii", errors="replace"),
                                             r.value.decode("utf-8", errors="replace")) for r in rrset]
        return None, []

    def _rrset(self, name: str, rdtype: str) -> dns.rrset.RRset | None:
        """The answer's RRset of `rdtype` (CNAMEs followed by the resolver), None for NXDOMAIN or no such type."""
        qname = dns.name.from_text(name)
        failure: dns.exception.DNSException | None = None
        for _ in range(2):
            try:
                return self._resolver.resolve(qname, rdtype, raise_on_no_answer=False).rrset
            except dns.resolver.NXDOMAIN:
                return None
            except dns.exception.DNSException as exc:   # NoNameservers (SERVFAIL, REFUSED), Timeout, ...
                failure = exc
        raise DnsLookupFailed(name, rdtype, str(failure) or type(failure).__name__)
