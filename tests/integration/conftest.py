"""The distributed run: `certplane run orgs` and `certplane run gateway` as separate processes on a fresh
PostgreSQL database and a fresh RabbitMQ vhost."""
from __future__ import annotations

import json
import os
import subprocess

import pytest
import requests
import sqlalchemy as sa
from nameko.standalone.rpc import ClusterRpcProxy

from tests.support import CERTPLANE, CertplaneProcess, free_port, pg_database, rabbit_vhost


class Cluster:
    def __init__(self, amqp_uri: str, vhost: str, database_url: str, log_dir):
        self.amqp_uri = amqp_uri
        self.vhost = vhost
        self.database_url = database_url
        self.http_port = free_port()
        common = {"AMQP_URI": amqp_uri, "CERTPLANE_DATABASE_URL": database_url, "CERTPLANE_LOG_LEVEL": "debug",
                  # no periodic pull: what reaches the gateway comes by push, gap fill or start-up catch-up
                  "CERTPLANE_CATCH_UP_INTERVAL": "3600"}
        self.base_url = f"http://127.0.0.1:{self.http_port}"
        self.orgs_health = [free_port(), free_port()]
        self.orgs = CertplaneProcess("orgs", ["run", "orgs"],
                                     {**common, "CERTPLANE_HEALTH_PORT": str(self.orgs_health[0])}, log_dir)
        self.orgs_replica = CertplaneProcess("orgs-replica", ["run", "orgs"],
                                             {**common, "CERTPLANE_HEALTH_PORT": str(self.orgs_health[1])}, log_dir)
        self.gateway = CertplaneProcess("gateway", ["run", "gateway"],
                                        {**common, "CERTPLANE_HTTP_PORT": str(self.http_port)}, log_dir)
        self.identity_health = free_port()
        self.identity = CertplaneProcess("identity", ["run", "identity"],
                                         {**common, "CERTPLANE_HEALTH_PORT": str(self.identity_health)}, log_dir)
        self.env = {**os.environ, **common}
        self.token = None
        self.engine = sa.create_engine(database_url)

    def start_orgs(self, replica: bool = False):
        process, port = (self.orgs_replica, self.orgs_health[1]) if replica else (self.orgs, self.orgs_health[0])
        process.start().wait_ready(f"http://127.0.0.1:{port}/readyz")

    def start_gateway(self):
        self.gateway.start().wait_ready(f"{self.base_url}/readyz")

    def start_identity(self):
        self.identity.start().wait_ready(f"http://127.0.0.1:{self.identity_health}/readyz")

    def first_admin(self):
        """`certplane admin create` (the operator's way in distributed mode), then log in and change the password."""
        created = subprocess.run([CERTPLANE, "admin", "create", "--username", "operator", "--email", "op@example.com",
                                  "--forename", "Op", "--surname", "Erator"], env=self.env, capture_output=True,
                                 text=True, timeout=60)
        assert created.returncode == 0, created.stderr
        password = json.loads(created.stdout)["password"]
        login = requests.post(f"{self.base_url}/api/v1/auth/login", timeout=30,
                              json={"username": "operator", "password": password})
        assert login.status_code == 200, login.text
        self.token = login.json()["token"]
        changed = self.http("POST", "/api/v1/auth/password", json={"current_password": password,
                                                                    "new_password": "distributed passphrase 1"})
        assert changed.status_code == 204, changed.text

    def rpc(self):
        return ClusterRpcProxy({"AMQP_URI": self.amqp_uri}, timeout=15)

    def http(self, method: str, path: str, **kwargs) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return requests.request(method, self.base_url + path, timeout=30, headers=headers, **kwargs)

    def listed_names(self) -> set[str]:
        """Every organization's name the gateway lists, all pages (the shared cluster holds more than one page: a
        first page of 200, sorted by name, once left the last-sorted names of a test out)."""
        names, position = set(), 0
        while True:
            page = self.http("GET", "/api/v1/organizations", params={"size": 200, "position": position}).json()
            names |= {o["name"] for o in page["items"]}
            position += len(page["items"])
            if not page["items"] or position >= page["total"]:
                return names

    def gateway_position(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(sa.text("SELECT position FROM gateway.tracking WHERE source = 'orgs'")).scalar() or 0

    def published_position(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(sa.text("SELECT position FROM orgs.relay_state WHERE name = 'relay'")).scalar() or 0

    def orgs_head(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(sa.text("SELECT coalesce(max(position), 0) FROM orgs.events")).scalar()

    def stop_all(self):
        for process in (self.gateway, self.identity, self.orgs_replica, self.orgs):
            process.stop()
        self.engine.dispose()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with pg_database() as database_url, rabbit_vhost() as (amqp_uri, vhost):
        cluster = Cluster(amqp_uri, vhost, database_url, tmp_path_factory.mktemp("logs"))
        try:
            cluster.start_orgs()
            cluster.start_identity()
            cluster.start_gateway()
            cluster.first_admin()
            yield cluster
        finally:
            cluster.stop_all()
