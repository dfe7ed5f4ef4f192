"""The domains service's only DNS I/O: TXT, CNAME, addresses and the CAA climb, with dnspython.

Every lookup goes to one resolver (CERTPLANE_DNS_RESOLVER, or the system's) without a cache, so a record the user
has just published is seen at once. NXDOMAIN and "no records of that type" are answers (empty); a server failure or
timeout is retried once and then raised as DnsLookupFailed — naming the lookup, the server and what it did — so
callers can fail closed and say why. Each try waits at most `timeout`, and never past the caller's deadline
(adapters/deadline.py): a CAA climb of five names against a dead server ends when the deadline does.
"""
from __future__ import annotations

import dns.exception
import dns.name
import dns.resolver
import dns.rrset

from services.domains.adapters.deadline import Deadline
from services.domains.caa import CaaRecord


MAX_CNAME_HOPS = 8      # names of a CNAME chain `_chased` follows; a longer chain is taken for a loop


class DnsLookupFailed(Exception):
    """No usable answer (SERVFAIL, REFUSED, timeout, ...) for `rdtype` at `name` from `server`, after one retry
    (or when the deadline left no time to ask). `timed_out`: the server did not answer at all."""

    def __init__(self, name: str, rdtype: str, detail: str, server: str = "the resolver", timed_out: bool = False):
        super().__init__(f"{rdtype} lookup for {name} at the DNS server {server} failed: {detail}")
        self.name = name
        self.rdtype = rdtype
        self.detail = detail
        self.server = server
        self.timed_out = timed_out


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
        `timeout` bounds one try of a lookup; a failed lookup is tried twice."""
        if resolver is None:
            self._resolver = dns.resolver.Resolver()
            self.server = ", ".join(str(n) for n in self._resolver.nameservers) or "(none in /etc/resolv.conf)"
        else:
            host, port = _host_port(resolver)
            self._resolver = dns.resolver.Resolver(configure=False)
            self._resolver.nameservers = [host]
            self._resolver.port = port
            self.server = resolver
        self.timeout = timeout
        self._resolver.lifetime = timeout
        self._resolver.timeout = timeout         # one query per try: the retry is ours, below

    def txt(self, name: str, deadline: Deadline | None = None, follow_cnames: bool = False) -> list[str]:
        """Each TXT record's strings joined (as RFC 7208 does), decoded as UTF-8. `follow_cnames`: to the end of a
        CNAME chain even when the server answers one hop at a time (`_chased`; ACME dns-01, RFC 8555 §8.4)."""
        rrset = self._chased(name, "TXT", deadline) if follow_cnames else self._rrset(name, "TXT", deadline)
        return [b"".join(r.strings).decode("utf-8", errors="replace") for r in rrset or ()]

    def cname(self, name: str, deadline: Deadline | None = None) -> str | None:
        """The target of the CNAME at `name` itself (the chain is not followed), lower case, no trailing dot."""
        rrset = self._rrset(name, "CNAME", deadline)
        return rrset[0].target.to_text(omit_final_dot=True).lower() if rrset else None

    def addresses(self, name: str, deadline: Deadline | None = None, follow_cnames: bool = False) -> list[str]:
        """Every A and AAAA address of `name` (after the CNAMEs the server answered; all of the chain with
        `follow_cnames`, see `_chased`)."""
        lookup = self._chased if follow_cnames else self._rrset
        return [r.address for rdtype in ("A", "AAAA") for r in lookup(name, rdtype, deadline) or ()]

    def caa(self, name: str, deadline: Deadline | None = None) -> tuple[str | None, list[CaaRecord]]:
        """The closest CAA RRset (RFC 8659 §3): `name`, then each parent up to the TLD. `*.x` starts at `x`.
        Returns (where it was found, records), or (None, []) when no name on the way has one."""
        labels = name.removeprefix("*.").split(".")
        for i in range(len(labels)):
            candidate = ".".join(labels[i:])
            rrset = self._rrset(candidate, "CAA", deadline)
            if rrset:
                return candidate, [CaaRecord(r.flags, r.tag.decode("ascii", errors="replace"),
                                             r.value.decode("utf-8", errors="replace")) for r in rrset]
        return None, []

    def _rrset(self, name: str, rdtype: str, deadline: Deadline | None) -> dns.rrset.RRset | None:
        """The answer's RRset of `rdtype` (CNAMEs followed by the resolver), None for NXDOMAIN or no such type."""
        answer = self._answer(name, rdtype, deadline)
        return answer.rrset if answer is not None else None

    def _chased(self, name: str, rdtype: str, deadline: Deadline | None) -> dns.rrset.RRset | None:
        """The RRset of `rdtype` at the end of `name`'s CNAME chain. A recursive resolver answers the whole chain
        at once (dnspython follows it inside the answer); an authoritative server answers only the hops in its own
        data, so where the answer ends in a CNAME with nothing after it, its target is asked next — up to
        MAX_CNAME_HOPS, then DnsLookupFailed (a loop)."""
        current = dns.name.from_text(name)
        for _ in range(MAX_CNAME_HOPS + 1):
            answer = self._answer(current.to_text(omit_final_dot=True), rdtype, deadline)
            if answer is None or answer.rrset is not None:
                return answer.rrset if answer is not None else None
            if answer.canonical_name == current:
                return None                                  # the chain ends in a name without `rdtype`
            current = answer.canonical_name
        raise DnsLookupFailed(name, rdtype, f"the CNAME chain is longer than {MAX_CNAME_HOPS} names (a loop?)",
                              self.server)

    def _answer(self, name: str, rdtype: str, deadline: Deadline | None) -> dns.resolver.Answer | None:
        """The resolver's answer (its rrset None when there is no such type), None for NXDOMAIN."""
        qname = dns.name.from_text(name)
        failures: list[str] = []
        waited, timeouts = 0.0, 0
        for _ in range(2):
            if deadline is not None and deadline.expired:
                break
            lifetime = self.timeout if deadline is None else min(self.timeout, deadline.left())
            try:
                return self._resolver.resolve(qname, rdtype, raise_on_no_answer=False, lifetime=lifetime)
            except dns.resolver.NXDOMAIN:
                return None
            except dns.exception.Timeout:
                waited, timeouts = waited + lifetime, timeouts + 1
                failures.append("no answer")
            except dns.resolver.NoNameservers as exc:      # SERVFAIL, REFUSED, a malformed answer ...
                answered = [f"answered {error[3]}" for error in exc.kwargs.get("errors") or ()]
                failures.append("; ".join(answered) or str(exc))
            except dns.exception.DNSException as exc:
                failures.append(str(exc) or type(exc).__name__)
        timed_out = bool(failures) and timeouts == len(failures)
        if not failures:
            detail = f"no time was left to ask within the lookup budget of {deadline.seconds:g} s"
        elif timed_out:
            detail = f"no answer within {waited:.1f} s ({_tries(timeouts)})"
        else:
            detail = f"{failures[-1]} ({_tries(len(failures))})"
        raise DnsLookupFailed(name, rdtype, detail, self.server, timed_out=timed_out or not failures)


def _tries(count: int) -> str:
    return "asked once" if count == 1 else "asked twice"
