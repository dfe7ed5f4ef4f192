"""End-to-end: Certplane as `make run` starts it (embedded mode, its own var/ directory), driven over HTTP."""
import subprocess

import pytest
import requests

from tests.support import CERTPLANE, CertplaneProcess, free_port


class Api:
    def __init__(self, base_url: str):
        self.base_url = base_url
        self.http = requests.Session()

    def __call__(self, method: str, path: str, **kwargs) -> requests.Response:
        kwargs.setdefault("timeout", 30)
        return self.http.request(method, self.base_url + path, **kwargs)

    def create_org(self, body: dict, **kwargs) -> dict:
        response = self("POST", "/api/v1/organizations", json=body, **kwargs)
        assert response.status_code == 201, response.text
        return response.json()

    def count_orgs(self) -> int:
        return int(self("HEAD", "/api/v1/organizations").headers["X-Total-Count"])


class Embedded:
    def __init__(self, var_dir, log_dir):
        self.port = free_port()
        self.env = {"CERTPLANE_VAR_DIR": str(var_dir), "CERTPLANE_HTTP_PORT": str(self.port),
                    "CERTPLANE_MAX_BODY_BYTES": "65536", "AMQP_URI": "", "CERTPLANE_DATABASE_URL": ""}
        self.process = CertplaneProcess("embedded", ["run"], self.env, log_dir)
        self.api = Api(f"http://127.0.0.1:{self.port}")

    def start(self):
        self.process.start().wait_ready(f"{self.api.base_url}/readyz")
        return self

    def stop(self):
        self.process.stop()

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
