"""The world of the ACME client tests (issue 14): one embedded Certplane with its TLS listener, a DNS server the
clients' dns-01 hooks publish to, and, made through the REST API as an administrator does it, an organization, the
domain `acme.test` delegated to it for ssl, and an ACME account with its EAB credentials.

Decisions (why it is built so):
- **The directory URL is https://127.0.0.1:<tls port>/acme/directory** (CERTPLANE_PUBLIC_BASE_URL is
  https://127.0.0.1:<tls port>). The listener's test certificate names both localhost and 127.0.0.1; the IP
  avoids `localhost` resolving to ::1 first while the listener binds 127.0.0.1 only. Clients trust the test root
  through REQUESTS_CA_BUNDLE (certbot, the `acme` library) and LEGO_CA_CERTIFICATES (lego). The same base URL puts
  https:// CRL/OCSP links into the certificates: fine for the private profile these tests order under (RFC 5280
  lint); a public profile's BR lint wants http:// links (see the report of this helper).
- **DNS: the project's own DnsServer (tests/dns_server.py)** answers Certplane's resolver (CERTPLANE_DNS_RESOLVER):
  an A record 127.0.0.1 for each name a test orders (`name()`), and the TXT records the clients' dns-01 hooks
  publish. The hooks run in the clients' own subprocesses, so the server gets a small HTTP control endpoint
  (`DnsControl`, the same JSON API as pebble-challtestsrv: POST /set-txt and /clear-txt with {"host", "value"}),
  reached with curl from tests/acme_hooks/publish_txt.sh. DnsServer rather than pebble-challtestsrv: it is the
  server the rest of the suite (CAA, email DCV) already runs Certplane's resolver against, it answers NXDOMAIN and
  CAA the way those tests expect, and it needs no extra process — challtestsrv would serve as well (the hook
  speaks its API) but answers every unknown name with its default A record.
- The ports the clients bind for http-01 and tls-alpn-01 are free ports given to Certplane as
  CERTPLANE_ACME_HTTP_PORT / CERTPLANE_ACME_TLS_PORT (certbot --http-01-port, lego --http.port / --tls.port); so
  the tests run one client at a time. CERTPLANE_DCV_HTTP_ALLOW_PRIVATE lets the checks reach 127.0.0.1.
"""
from __future__ import annotations

import itertools
import json
import os
import shutil
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path

import eventlet.patcher

from tests.dns_server import DnsServer
from tests.e2e.conftest import Api, Embedded
from tests.support import free_port
from tests.tls_files import TlsFiles

_socket = eventlet.patcher.original("socket")
_threading = eventlet.patcher.original("threading")

ZONE = "acme.test"
HOOK = Path(__file__).resolve().parent.parent / "acme_hooks" / "publish_txt.sh"
ORG = {"address1": "1 Main St", "city": "Berlin", "state": "Berlin", "country": "DE"}
_names = itertools.count(1)


class DnsControl:
    """An HTTP endpoint on 127.0.0.1 that changes a DnsServer's TXT records (real OS thread and socket, so it
    answers while the monkey-patched test blocks on a client subprocess). POST /set-txt {"host", "value"} adds a
    value to the name's TXT RRset; POST /clear-txt {"host"[, "value"]} removes it (or all of them)."""

    def __init__(self, dns: DnsServer):
        self.dns = dns
        self.txt: dict[str, list[str]] = {}
        self.published: list[tuple[str, str]] = []            # (host, value) of every /set-txt, in order
        self._lock = _threading.Lock()
        self._running = False

    def start(self) -> "DnsControl":
        self._listener = _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM)
        self._listener.setsockopt(_socket.SOL_SOCKET, _socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self._listener.settimeout(0.2)
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._running = True
        self._thread = _threading.Thread(target=self._serve, name="dns-control", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._running = False
        self._thread.join(5)
        self._listener.close()

    def set_txt(self, host: str, value: str) -> None:
        with self._lock:
            values = self.txt.setdefault(host.rstrip(".").lower(), [])
            if value not in values:
                values.append(value)
            self.published.append((host, value))
            self._apply(host)

    def clear_txt(self, host: str, value: str | None = None) -> None:
        with self._lock:
            values = self.txt.get(host.rstrip(".").lower(), [])
            values[:] = [v for v in values if value is not None and v != value]
            self._apply(host)

    def _apply(self, host: str) -> None:
        name = host.rstrip(".").lower()
        self.dns.set(name, "TXT", [json.dumps(v) for v in self.txt.get(name, [])], ttl=1)

    def _serve(self) -> None:
        while self._running:
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            try:
                conn.settimeout(5)
                self._answer(conn)
            except (OSError, ValueError):
                pass
            finally:
                conn.close()

    def _answer(self, conn) -> None:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, path, _ = lines[0].split(" ", 2)
        headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:] if ":" in line)}
        length = int(headers.get("content-length", "0"))
        while len(body) < length:
            chunk = conn.recv(65536)
            if not chunk:
                return
            body += chunk
        status = "200 OK"
        try:
            payload = json.loads(body or b"{}")
            if (method, path) == ("POST", "/set-txt"):
                self.set_txt(payload["host"], payload["value"])
            elif (method, path) == ("POST", "/clear-txt"):
                self.clear_txt(payload["host"], payload.get("value"))
            else:
                status = "404 Not Found"
        except (KeyError, TypeError, json.JSONDecodeError):
            status = "400 Bad Request"
        conn.sendall(f"HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode())


@dataclass
class AcmeEnv:
    cp: Embedded
    tls: TlsFiles
    dns: DnsServer
    control: DnsControl
    work: Path
    tls_port: int
    http01_port: int
    alpn_port: int
    org_id: str = ""
    domain_id: str = ""
    profile_id: str = ""
    account: dict = field(default_factory=dict)
    root_pem: Path | None = None
    hook: Path | None = None

    @property
    def api(self) -> Api:
        return self.cp.api

    @property
    def base_url(self) -> str:
        return f"https://127.0.0.1:{self.tls_port}"

    @property
    def directory_url(self) -> str:
        return f"{self.base_url}/acme/directory"

    @property
    def eab_kid(self) -> str:
        return self.account["eab"]["kid"]

    @property
    def eab_hmac_key(self) -> str:
        return self.account["eab"]["hmac_key"]

    def name(self, label: str) -> str:
        """A new name under acme.test that resolves to 127.0.0.1 (for http-01 and tls-alpn-01 checks)."""
        name = f"{label}-{next(_names)}.{ZONE}"
        self.dns.set(name, "A", ["127.0.0.1"])
        return name

    def client_env(self, **extra) -> dict[str, str]:
        """The environment of a client subprocess: trusts the test root, knows the DNS control endpoint."""
        return {**os.environ, "REQUESTS_CA_BUNDLE": str(self.tls.ca_file),
                "LEGO_CA_CERTIFICATES": str(self.tls.ca_file), "ACME_TEST_DNS_CONTROL": self.control.url,
                "EXEC_PATH": str(self.hook), "EXEC_PROPAGATION_TIMEOUT": "30", "EXEC_POLLING_INTERVAL": "1",
                **extra}

    def directory_answers(self) -> bool:
        import requests
        try:
            return requests.get(f"http://127.0.0.1:{self.cp.port}/acme/directory", timeout=5).status_code == 200
        except requests.RequestException:
            return False

    # ---- start and stop ------------------------------------------------------------------------------------

    @classmethod
    def start(cls, work: Path, log_dir: Path, **extra_env) -> "AcmeEnv":
        tls = TlsFiles.make(work / "tls")
        dns = DnsServer().start()
        control = DnsControl(dns).start()
        tls_port, http01_port, alpn_port = free_port(), free_port(), free_port()
        cp = Embedded(work / "var", log_dir, CERTPLANE_TLS_PORT=str(tls_port),
                      CERTPLANE_TLS_CERT_FILE=str(tls.cert_file), CERTPLANE_TLS_KEY_FILE=str(tls.key_file),
                      CERTPLANE_PUBLIC_BASE_URL=f"https://127.0.0.1:{tls_port}",
                      CERTPLANE_ACME_HTTP_PORT=str(http01_port), CERTPLANE_ACME_TLS_PORT=str(alpn_port),
                      CERTPLANE_DNS_RESOLVER=dns.address, CERTPLANE_DCV_HTTP_ALLOW_PRIVATE="true",
                      CERTPLANE_CRL_CHECK_INTERVAL="1", **extra_env)
        env = cls(cp, tls, dns, control, work, tls_port, http01_port, alpn_port)
        env.hook = work / "publish_txt.sh"              # an executable copy, whatever mode the checkout has
        shutil.copyfile(HOOK, env.hook)
        env.hook.chmod(env.hook.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        try:
            cp.start()
            env._admin_setup()
        except BaseException:
            env.stop()
            raise
        return env

    def stop(self) -> None:
        self.cp.stop()
        self.control.stop()
        self.dns.stop()

    def _admin_setup(self) -> None:
        """What an administrator does in the console before handing EAB credentials to a web team."""
        api = self.api
        self.org_id = api.create_org({"name": "ACME Clients Org", **ORG})["organization_id"]
        domain = api("POST", "/api/v1/domains", json={"name": ZONE, "delegations": [
            {"organization_id": self.org_id, "cert_types": ["ssl"]}]})
        assert domain.status_code == 201, domain.text
        self.domain_id = domain.json()["domain_id"]
        self.profile_id = _private_tls_profile(api)["profile_id"]
        cas = api("GET", "/api/v1/cas").json()["items"]
        root = next(ca for ca in cas if ca["kind"] == "root")
        self.root_pem = self.work / "certplane-root.pem"
        self.root_pem.write_text(root["certificate_pem"])
        self.account = self.create_account("web team")

    def create_account(self, name: str, organization_id: str | None = None, profile_ids=None) -> dict:
        """POST /api/v1/acme-accounts: the account with its `eab` {kid, hmac_key} (shown this once)."""
        created = self.api("POST", "/api/v1/acme-accounts", json={
            "name": name, "organization_id": organization_id or self.org_id, "department_id": None,
            "profile_ids": list(profile_ids or [self.profile_id])})
        assert created.status_code == 201, created.text
        return created.json()


def _private_tls_profile(api: Api, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        items = api("GET", "/api/v1/profiles").json()["items"]
        found = [p for p in items if p["name"] == "Private TLS Server"]
        if found:
            assert not found[0].get("requires_approval"), "ACME issues without an approval step"
            return found[0]
        time.sleep(0.2)
    raise AssertionError("no default Private TLS Server profile")
