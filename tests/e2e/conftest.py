"""End-to-end: Certplane as `make run` starts it (embedded mode, its own var/ directory), driven over HTTP."""
import secrets
import subprocess

import pytest
import requests

from tests.support import CERTPLANE, CertplaneProcess, free_port


class Api:
    def __init__(self, base_url: str, token: str | None = None):
        self.base_url = base_url
        self.http = requests.Session()
        if token:
            self.http.headers["Authorization"] = f"Bearer {token}"

    def as_token(self, token: str | None) -> "Api":
        """The same server, another caller (None: no Authorization header)."""
        return Api(self.base_url, token)

    def login(self, username: str, password: str) -> str:
        response = self.as_token(None)("POST", "/api/v1/auth/login",
                                       json={"username": username, "password": password})
        assert response.status_code == 200, response.text
        return response.json()["token"]

    def __call__(self, method: str, path: str, **kwargs) -> requests.Response:
        kwargs.setdefault("timeout", 30)
        return self.http.request(method, self.base_url + path, **kwargs)

    def create_org(self, body: dict, **kwargs) -> dict:
        response = self("POST", "/api/v1/organizations", json=body, **kwargs)
        assert response.status_code == 201, response.text
        return response.json()

    def delegate_mail_domains(self, organization_id: str, names=("example.com", "example.org"),
                              cert_types=("client", "code_signing")) -> None:
        """Delegate `names` to the organization for persons' certificates (a person's emails must be in such a
        domain): the domain is created, or — made already for another organization — gets this delegation too."""
        for name in names:
            found = [d for d in self("GET", "/api/v1/domains", params={"q": name, "size": 200}).json()["items"]
                     if d["name"] == name]
            delegation = {"organization_id": organization_id, "cert_types": list(cert_types)}
            if found:
                added = self("POST", f"/api/v1/domains/{found[0]['domain_id']}/delegations", json=delegation)
            else:
                added = self("POST", "/api/v1/domains", json={"name": name, "delegations": [delegation]})
            assert added.status_code in (200, 201), added.text

    def count_orgs(self) -> int:
        return int(self("HEAD", "/api/v1/organizations").headers["X-Total-Count"])


class Embedded:
    def __init__(self, var_dir, log_dir, **extra_env):
        self.port = free_port()
        self.env = {"CERTPLANE_VAR_DIR": str(var_dir), "CERTPLANE_HTTP_PORT": str(self.port),
                    "CERTPLANE_MAX_BODY_BYTES": "65536", "AMQP_URI": "", "CERTPLANE_DATABASE_URL": "",
                    **extra_env}
        self.var_dir = var_dir
        self.process = CertplaneProcess("embedded", ["run"], self.env, log_dir)
        self.api = Api(f"http://127.0.0.1:{self.port}")
        self.admin_password = None

    def start(self):
        self.process.start().wait_ready(f"{self.api.base_url}/readyz")
        if self.admin_password is None:
            self._first_login()
        return self

    def _first_login(self):
        """What a new user does: read the initial password, log in, change it as required."""
        initial = dict(line.split(": ", 1) for line in (self.var_dir / "initial-admin.txt").read_text().splitlines())
        assert initial["password"] in self.process.output()      # the banner printed it once
        token = self.api.login("admin", initial["password"])
        self.admin_password = "e2e first-login passphrase"
        changed = self.api.as_token(token)("POST", "/api/v1/auth/password", json={
            "current_password": initial["password"], "new_password": self.admin_password})
        assert changed.status_code == 204, changed.text
        self.api.http.headers["Authorization"] = f"Bearer {token}"

    def stop(self):
        self.process.stop()

    def admin(self, username: str, roles: list[dict], privileges: list[str] = (), creator: Api | None = None,
              **profile) -> tuple[dict, Api]:
        """An administrator created through the API (by the initial MRAO unless `creator` is given), logged in
        with its first-login password change done: (its record with the `password` it now has, an Api acting as
        it). An API-only admin
        (privilege ws_api_only) gets an API key instead of a session."""
        creator = creator or self.api
        body = {"username": username, "email": f"{username}@example.com", "forename": username.title(),
                "surname": "Tester", "roles": roles, "privileges": list(privileges), **profile}
        api_only = "ws_api_only" in privileges
        if not api_only:
            body["password"] = f"initial-{secrets.token_hex(8)}"
        created = creator("POST", "/api/v1/admins", json=body)
        assert created.status_code == 201, created.text
        record = created.json()
        if record["status"] != "active":
            return record, self.api.as_token(None)
        if api_only:
            issued = self.api("POST", f"/api/v1/admins/{record['admin_id']}/api-keys", json={"name": "tests"})
            assert issued.status_code == 201, issued.text
            return record, self.api.as_token(issued.json()["key"])
        token = self.api.login(username, body["password"])
        password = f"changed-{secrets.token_hex(8)}"
        changed = self.api.as_token(token)("POST", "/api/v1/auth/password", json={
            "current_password": body["password"], "new_password": password})
        assert changed.status_code == 204, changed.text
        return {**record, "password": password}, self.api.as_token(token)

    def cli(self, *args) -> subprocess.CompletedProcess:
        import os
        return subprocess.run([CERTPLANE, *args], env={**os.environ, **self.env}, capture_output=True, text=True,
                              timeout=60)


@pytest.fixture(scope="module")
def embedded(tmp_path_factory):
    server = Embedded(tmp_path_factory.mktemp("var"), tmp_path_factory.mktemp("logs")).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def api(embedded) -> Api:
    return embedded.api


def validate_by_email(api: Api, domain: dict, mailbox: str = "hostmaster", timeout: float = 20.0) -> None:
    """Email DCV of `domain` as an administrator does it: start it, read the code from the outbox (no SMTP server
    configured), enter it on the public page. The server needs a DNS resolver that answers CAA (a DnsServer)."""
    import re
    import time
    started = api("POST", f"/api/v1/domains/{domain['domain_id']}/dcv",
                  json={"method": "email", "email_address": f"{mailbox}@{domain['name']}"})
    assert started.status_code == 201, started.text
    deadline = time.monotonic() + timeout
    mail = None
    while mail is None and time.monotonic() < deadline:
        items = api("GET", "/api/v1/outbox", params={"size": 200}).json()["items"]
        mail = next((m for m in items if m["to"] == f"{mailbox}@{domain['name']}"), None)
        time.sleep(0.1)
    assert mail is not None, f"no DCV mail for {domain['name']}"
    link = re.search(r"(http://\S+/dcv/[0-9a-f-]{36})", mail["text"]).group(1)
    code = re.search(r"Code: (\S+)", mail["text"]).group(1)
    answer = requests.post(link.replace(link.split("/dcv/")[0], api.base_url), json={"code": code}, timeout=30)
    assert answer.status_code == 200 and answer.json()["validated"], answer.text


@pytest.fixture(scope="session")
def acme_env(tmp_path_factory):
    """One Certplane for every ACME test of the session (tests/e2e/acme_env.py): its TLS listener, a test DNS
    server with a control endpoint for dns-01 hooks, an organization with acme.test delegated for ssl, and an
    ACME account (`acme_env.eab_kid`, `acme_env.eab_hmac_key`) at `acme_env.directory_url`."""
    from tests.e2e.acme_env import AcmeEnv
    env = AcmeEnv.start(tmp_path_factory.mktemp("acme"), tmp_path_factory.mktemp("acme-logs"))
    yield env
    env.stop()


@pytest.fixture(scope="session")
def device_env(tmp_path_factory):
    """One Certplane for every SCEP and EST test of the session (tests/e2e/device_env.py): its EST listener
    (`device_env.est_port`), an organization with a domain delegated for device names, device profiles `auto` and
    `approval`, and `device_env.endpoint(kind, profile)` to make endpoints."""
    from tests.e2e.device_env import DeviceEnv
    env = DeviceEnv.start(tmp_path_factory.mktemp("devices"), tmp_path_factory.mktemp("devices-logs"))
    yield env
    env.stop()
