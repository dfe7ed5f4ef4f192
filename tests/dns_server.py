"""A real authoritative DNS server for tests: UDP and TCP on 127.0.0.1, a zone the test changes while it runs.

dnspython parses and renders every message; this file only decides the answer. It runs on a real OS thread with
real sockets (eventlet's originals), so it keeps answering while the monkey-patched test process blocks, and it
answers other processes too (a `certplane` started with CERTPLANE_DNS_RESOLVER=server.address).

    python -m tests.dns_server 'example.test CAA 0 issue "certplane.invalid"' ...   # prints its address
"""
from __future__ import annotations

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset
import eventlet.patcher

_socket = eventlet.patcher.original("socket")
_select = eventlet.patcher.original("select")
_threading = eventlet.patcher.original("threading")

FAILURES = {"servfail": dns.rcode.SERVFAIL, "refused": dns.rcode.REFUSED, "timeout": None}


class DnsServer:
    def __init__(self):
        self.port = 0
        self.address = ""
        self.queries: list[tuple[str, str]] = []           # (name, rdtype) of every query, in order
        self._rrsets: dict[tuple[dns.name.Name, int], dns.rrset.RRset] = {}
        self._failures: dict[dns.name.Name, str] = {}
        self._lock = _threading.Lock()
        self._running = False
        self._thread = None

    def start(self) -> "DnsServer":
        for _attempt in range(50):       # a free UDP port whose TCP twin may be taken: try another
            self._udp = _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM)
            self._udp.bind(("127.0.0.1", 0))
            self.port = self._udp.getsockname()[1]
            self._tcp = _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM)
            self._tcp.setsockopt(_socket.SOL_SOCKET, _socket.SO_REUSEADDR, 1)
            try:
                self._tcp.bind(("127.0.0.1", self.port))
                break
            except OSError:
                self._udp.close()
                self._tcp.close()
        else:
            raise OSError("no port free for both UDP and TCP")
        self._tcp.listen(16)
        self.address = f"127.0.0.1:{self.port}"
        self._running = True
        self._thread = _threading.Thread(target=self._serve, name="dns-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._running = False
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def __enter__(self) -> "DnsServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ---- the zone ----------------------------------------------------------------------------------------

    def set(self, name: str, rdtype: str, values: list[str], ttl: int = 60) -> None:
        """Replace the RRset of `rdtype` at `name` with `values` in presentation format; [] removes it."""
        key = (dns.name.from_text(name), dns.rdatatype.from_text(rdtype))
        rrset = dns.rrset.from_text_list(key[0], ttl, "IN", rdtype, values) if values else None
        with self._lock:
            if rrset is None:
                self._rrsets.pop(key, None)
            else:
                self._rrsets[key] = rrset

    def fail(self, name: str, mode: str | None) -> None:
        """Answer every query for `name` with "servfail", "refused" or "timeout" (no answer); None clears."""
        if mode is not None and mode not in FAILURES:
            raise ValueError(f"unknown failure mode {mode!r}")
        with self._lock:
            if mode is None:
                self._failures.pop(dns.name.from_text(name), None)
            else:
                self._failures[dns.name.from_text(name)] = mode

    def answer(self, query: dns.message.Message) -> dns.message.Message | None:
        """The response to `query`, or None when it must go unanswered."""
        question = query.question[0]
        qname, qtype = question.name, question.rdtype
        self.queries.append((qname.to_text(omit_final_dot=True), dns.rdatatype.to_text(qtype)))
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        with self._lock:
            mode = self._failures.get(qname)
            if mode is not None:
                if FAILURES[mode] is None:
                    return None
                response.set_rcode(FAILURES[mode])
                return response
            cname = self._rrsets.get((qname, dns.rdatatype.CNAME))
            if cname is not None and qtype != dns.rdatatype.CNAME:
                response.answer.append(cname)
                target = self._rrsets.get((cname[0].target, qtype))
                if target is not None:
                    response.answer.append(target)
            elif (qname, qtype) in self._rrsets:
                response.answer.append(self._rrsets[(qname, qtype)])
            elif not any(name.is_subdomain(qname) for name, _ in self._rrsets):
                response.set_rcode(dns.rcode.NXDOMAIN)
        return response

    # ---- the wire ----------------------------------------------------------------------------------------

    def _serve(self) -> None:
        connections: list = []
        try:
            while self._running:
                readable, _, _ = _select.select([self._udp, self._tcp, *connections], [], [], 0.1)
                for sock in readable:
                    if sock is self._udp:
                        self._serve_udp()
                    elif sock is self._tcp:
                        connections.append(self._tcp.accept()[0])
                    elif not self._serve_tcp(sock):
                        connections.remove(sock)
                        sock.close()
        finally:
            for sock in [self._udp, self._tcp, *connections]:
                sock.close()

    def _serve_udp(self) -> None:
        wire, client = self._udp.recvfrom(65535)
        try:
            query = dns.message.from_wire(wire)
        except dns.exception.DNSException:
            return                                          # not a DNS query: ignored
        response = self.answer(query)
        if response is not None:
            size = query.payload if query.edns >= 0 else 512
            self._udp.sendto(response.to_wire(max_size=size, prefer_truncation=True), client)

    def _serve_tcp(self, conn) -> bool:
        """Answer one length-prefixed query; False when the client has closed the connection."""
        conn.settimeout(2)
        prefix = _recv_exactly(conn, 2)
        if prefix is None:
            return False
        wire = _recv_exactly(conn, int.from_bytes(prefix, "big"))
        if wire is None:
            return False
        try:
            response = self.answer(dns.message.from_wire(wire))
            if response is not None:
                conn.sendall(response.to_wire(prepend_length=True))
        except (dns.exception.DNSException, OSError):
            return False
        return True


def _recv_exactly(conn, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        try:
            chunk = conn.recv(size - len(data))
        except OSError:
            return None
        if not chunk:
            return None
        data += chunk
    return data


if __name__ == "__main__":
    import sys
    import time

    server = DnsServer().start()
    zone: dict[tuple[str, str], list[str]] = {}
    for line in sys.argv[1:]:
        record_name, record_type, value = line.split(None, 2)
        zone.setdefault((record_name, record_type), []).append(value)
    for (record_name, record_type), values in zone.items():
        server.set(record_name, record_type, values)
    print(server.address, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()
