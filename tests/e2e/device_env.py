"""One Certplane for the SCEP and EST tests of a session (tests/e2e/test_scep.py, test_est.py): embedded, with its
EST listener on a free port; an organization with a domain delegated for device names; two device profiles —
`auto` (issued at once) and `approval` (an administrator approves) — and a helper that makes endpoints."""
from __future__ import annotations

from dataclasses import dataclass, field

from tests.e2e.conftest import Api, Embedded
from tests.e2e.test_ssl_lifecycle import wait_for_profiles
from tests.support import free_port

ORG = {"name": "Device Fleet Org", "address1": "1 Main St", "city": "Hamburg", "state": "Hamburg", "country": "DE"}
DOMAIN = "devices-e2e.example.com"
KEY_TYPES = ["rsa-2048", "rsa-3072", "rsa-4096", "ec-p256", "ec-p384"]


@dataclass
class DeviceEnv:
    server: Embedded
    est_port: int
    org_id: str = ""
    profiles: dict = field(default_factory=dict)       # "auto" | "approval" -> profile id

    @property
    def api(self) -> Api:
        return self.server.api

    @property
    def base_url(self) -> str:
        return self.server.api.base_url

    @classmethod
    def start(cls, var_dir, log_dir) -> "DeviceEnv":
        est_port = free_port()
        server = Embedded(var_dir, log_dir, CERTPLANE_EST_PORT=str(est_port)).start()
        env = cls(server, est_port)
        try:
            env._world()
        except BaseException:
            server.stop()
            raise
        return env

    def _world(self) -> None:
        api = self.api
        self.org_id = api.create_org(ORG)["organization_id"]
        created = api("POST", "/api/v1/domains", json={"name": DOMAIN, "delegations": [
            {"organization_id": self.org_id, "cert_types": ["ssl"]}]})
        assert created.status_code == 201, created.text
        device = {p["name"]: p for p in wait_for_profiles(api)}["Private Device"]
        changed = api("PATCH", f"/api/v1/profiles/{device['profile_id']}", json={"requires_approval": False})
        assert changed.status_code == 200, changed.text
        approval = api("POST", "/api/v1/profiles", json={
            "name": "Device (approval)", "cert_type": "device", "terms": [365], "key_types": KEY_TYPES,
            "extended_key_usage": ["client_auth"], "max_sans": 10, "requires_approval": True})
        assert approval.status_code == 201, approval.text
        self.profiles = {"auto": device["profile_id"], "approval": approval.json()["profile_id"]}

    def endpoint(self, kind: str, profile: str = "auto", **overrides) -> dict:
        """A new endpoint of type `kind` (scep | est | web_form): the REST create answer — the endpoint, with its
        `credentials` (scep: challenge_password; est: username, password) shown this once."""
        body = {"name": f"{kind} {profile} endpoint", "type": kind, "organization_id": self.org_id,
                "profile_ids": [self.profiles[profile]], "generate": True, **overrides}
        if "uri_extension" in overrides:
            body.pop("generate")
        made = self.api("POST", "/api/v1/device-endpoints", json=body)
        assert made.status_code == 201, made.text
        return made.json()

    def devices(self, endpoint_id: str) -> list[dict]:
        """The device inventory's certificates issued through the endpoint."""
        answer = self.api("GET", "/api/v1/device", params={"endpoint_id": endpoint_id, "size": 200})
        assert answer.status_code == 200, answer.text
        return answer.json()["items"]

    def stop(self) -> None:
        self.server.stop()
