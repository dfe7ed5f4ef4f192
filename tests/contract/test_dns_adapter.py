"""DnsClient against a real authoritative DNS server (tests/dns_server.py) on 127.0.0.1, under eventlet."""
import subprocess
import sys
import time

import dns.message
import eventlet.patcher
import pytest

from services.domains.adapters.deadline import Deadline
from services.domains.adapters.dns import DnsClient, DnsLookupFailed
from services.domains.caa import CaaRecord
from tests.dns_server import DnsServer
from tests.support import ROOT


@pytest.fixture
def server():
    with DnsServer() as running:
        yield running


@pytest.fixture
def client(server):
    return DnsClient(server.address, timeout=2.0)


def queried(server: DnsServer, name: str) -> list[str]:
    return [rdtype for qname, rdtype in server.queries if qname == name]


# ---- TXT ---------------------------------------------------------------------------------------------------

def test_txt_joins_the_strings_of_each_record(server, client):
    server.set("_pki-validation.example.test", "TXT", ['"abc" "def"', '"v=spf1 -all"'])
    assert sorted(client.txt("_pki-validation.example.test")) == ["abcdef", "v=spf1 -all"]


def test_txt_decodes_utf8_and_replaces_invalid_bytes(server, client):
    server.set("example.test", "TXT", ['"caf\\195\\169"', '"bad\\255"'])
    assert sorted(client.txt("example.test")) == ["bad\ufffd", "café"]


def test_txt_missing_name_or_type_is_empty(server, client):
    server.set("example.test", "A", ["127.0.0.1"])
    assert client.txt("example.test") == []              # NOERROR, no TXT
    assert client.txt("nothing.example.test") == []      # NXDOMAIN


def test_txt_sees_zone_changes_at_once(server, client):
    server.set("example.test", "TXT", ['"first"'])
    assert client.txt("example.test") == ["first"]
    server.set("example.test", "TXT", ['"second"'])
    assert client.txt("example.test") == ["second"]
    server.set("example.test", "TXT", [])
    assert client.txt("example.test") == []


def test_large_answer_is_fetched_over_tcp_after_truncation(server, client):
    values = [f'"{i:03d}{"x" * 200}"' for i in range(20)]       # ~4 KB: more than a 512-byte UDP answer
    server.set("big.example.test", "TXT", values)
    assert sorted(client.txt("big.example.test")) == [v.strip('"') for v in values]
    assert queried(server, "big.example.test") == ["TXT", "TXT"]   # UDP (truncated), then TCP


# ---- CNAME and addresses -----------------------------------------------------------------------------------

def test_cname_returns_the_target_lower_case_without_trailing_dot(server, client):
    server.set("_dcv.example.test", "CNAME", ["Token.DCV.Certplane.Invalid."])
    assert client.cname("_dcv.example.test") == "token.dcv.certplane.invalid"


def test_cname_does_not_follow_the_chain(server, client):
    server.set("a.example.test", "CNAME", ["b.example.test."])
    server.set("b.example.test", "CNAME", ["c.example.test."])
    assert client.cname("a.example.test") == "b.example.test"


def test_cname_missing_is_none(server, client):
    server.set("example.test", "TXT", ['"x"'])
    assert client.cname("example.test") is None
    assert client.cname("nothing.example.test") is None


def test_addresses_are_a_and_aaaa(server, client):
    server.set("www.example.test", "A", ["192.0.2.1", "192.0.2.2"])
    server.set("www.example.test", "AAAA", ["2001:db8::1"])
    assert sorted(client.addresses("www.example.test")) == ["192.0.2.1", "192.0.2.2", "2001:db8::1"]


def test_addresses_follow_a_cname(server, client):
    server.set("alias.example.test", "CNAME", ["www.example.test."])
    server.set("www.example.test", "A", ["127.0.0.1"])
    assert client.addresses("alias.example.test") == ["127.0.0.1"]


def test_addresses_of_a_name_without_any_are_empty(server, client):
    server.set("example.test", "TXT", ['"x"'])
    assert client.addresses("example.test") == []
    assert client.addresses("nothing.example.test") == []


# ---- CAA ---------------------------------------------------------------------------------------------------

def test_caa_at_the_parent_applies_to_a_child(server, client):
    server.set("example.test", "CAA", ['0 issue "certplane.invalid"', '0 iodef "mailto:sec@example.test"'])
    name, records = client.caa("www.shop.example.test")
    assert name == "example.test"
    assert sorted(records, key=lambda r: r.tag) == [CaaRecord(0, "iodef", "mailto:sec@example.test"),
                                                    CaaRecord(0, "issue", "certplane.invalid")]
    assert [q for q, t in server.queries if t == "CAA"] == ["www.shop.example.test", "shop.example.test",
                                                            "example.test"]


def test_closest_caa_rrset_wins(server, client):
    server.set("example.test", "CAA", ['0 issue "certplane.invalid"'])
    server.set("shop.example.test", "CAA", ['0 issue "other.ca"'])
    assert client.caa("www.shop.example.test") == ("shop.example.test", [CaaRecord(0, "issue", "other.ca")])


def test_caa_none_on_the_whole_path(server, client):
    server.set("www.example.test", "A", ["127.0.0.1"])
    assert client.caa("www.example.test") == (None, [])
    assert [q for q, t in server.queries if t == "CAA"] == ["www.example.test", "example.test", "test"]


def test_caa_of_a_wildcard_starts_at_its_base_name(server, client):
    server.set("a.example.test", "CAA", ['0 issuewild ";"'])
    assert client.caa("*.a.example.test") == ("a.example.test", [CaaRecord(0, "issuewild", ";")])
    assert not any(q.startswith("*") for q, _ in server.queries)


def test_caa_failure_is_not_skipped(server, client):
    server.set("example.test", "CAA", ['0 issue "certplane.invalid"'])
    server.fail("www.example.test", "servfail")
    with pytest.raises(DnsLookupFailed):
        client.caa("www.example.test")


def test_caa_flags_and_critical_unknown_tags_come_through(server, client):
    server.set("example.test", "CAA", ['128 tbs "x"'])
    assert client.caa("example.test") == ("example.test", [CaaRecord(128, "tbs", "x")])


# ---- failures ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["servfail", "refused"])
def test_server_failure_is_retried_once_then_raised(server, client, mode):
    server.set("example.test", "TXT", ['"x"'])
    server.fail("example.test", mode)
    with pytest.raises(DnsLookupFailed) as failed:
        client.txt("example.test")
    assert (failed.value.name, failed.value.rdtype) == ("example.test", "TXT")
    assert queried(server, "example.test") == ["TXT", "TXT"]


def test_a_failure_gone_by_the_retry_goes_unnoticed(server, client):
    server.set("example.test", "TXT", ['"x"'])
    server.fail("example.test", "servfail")
    answer = server.answer

    def fail_once(query):
        response = answer(query)
        server.fail("example.test", None)
        return response

    server.answer = fail_once
    assert client.txt("example.test") == ["x"]
    assert queried(server, "example.test") == ["TXT", "TXT"]


def test_timeout_is_retried_once_then_raised(server):
    server.fail("example.test", "timeout")
    started = time.monotonic()
    with pytest.raises(DnsLookupFailed):
        DnsClient(server.address, timeout=0.5).txt("example.test")
    assert 0.9 < time.monotonic() - started < 3
    assert queried(server, "example.test") == ["TXT", "TXT"]


def test_a_failure_names_the_lookup_the_server_and_what_it_answered(server, client):
    server.fail("example.test", "servfail")
    with pytest.raises(DnsLookupFailed) as failed:
        client.txt("example.test")
    assert str(failed.value) == (f"TXT lookup for example.test at the DNS server {server.address} failed: "
                                 "answered SERVFAIL (asked twice)")
    assert (failed.value.server, failed.value.timed_out) == (server.address, False)


def test_the_deadline_ends_a_caa_climb_against_a_silent_server(server):
    """Each try gets what is left of the caller's deadline: the climb does not go on to the parents."""
    server.set("example.test", "CAA", ['0 issue "certplane.invalid"'])
    server.fail("www.shop.example.test", "timeout")
    with pytest.raises(DnsLookupFailed) as failed:
        DnsClient(server.address, timeout=0.3).caa("www.shop.example.test", Deadline(0.5))
    assert failed.value.timed_out and failed.value.server == server.address
    assert "no answer" in failed.value.detail
    assert [q for q, t in server.queries if t == "CAA"] == ["www.shop.example.test"] * 2


def test_a_deadline_already_passed_asks_nothing(server, client):
    server.set("example.test", "TXT", ['"x"'])
    with pytest.raises(DnsLookupFailed) as failed:
        client.txt("example.test", Deadline(0))
    assert failed.value.timed_out and "no time was left" in failed.value.detail
    assert server.queries == []


def test_nxdomain_is_empty_not_a_failure(server, client):
    assert client.txt("nothing.example.test") == []
    assert queried(server, "nothing.example.test") == ["TXT"]


# ---- the test server itself --------------------------------------------------------------------------------

def test_server_answers_while_the_test_process_blocks_in_a_real_call(server):
    """A green server would never answer: a real blocking recv stops eventlet's hub."""
    server.set("example.test", "TXT", ['"x"'])
    real_socket = eventlet.patcher.original("socket")
    with real_socket.socket(real_socket.AF_INET, real_socket.SOCK_DGRAM) as sock:
        sock.settimeout(5)
        sock.sendto(dns.message.make_query("example.test", "TXT").to_wire(), ("127.0.0.1", server.port))
        response = dns.message.from_wire(sock.recv(65535))
    assert [rdata.strings for rdata in response.answer[0]] == [(b"x",)]


def test_server_answers_another_process(server):
    server.set("example.test", "TXT", ['"from another process"'])
    code = ("from services.domains.adapters.dns import DnsClient; "
            f"print(DnsClient('{server.address}', 2.0).txt('example.test'))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert done.stdout.strip() == "['from another process']", done.stderr
