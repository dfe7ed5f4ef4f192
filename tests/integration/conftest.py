"""The distributed run: `certplane run orgs` and `certplane run gateway` as separate processes on a fresh
PostgreSQL database and a fresh RabbitMQ vhost."""
from __future__ import annotations

import pytest
import requests
import sqlalchemy as sa
from nameko.standalone.rpc import ClusterRpcProxy

from tests.support import CertplaneProcess, free_port, pg_database, rabbit_vhost


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
        self.engine = sa.create_engine(database_url)

    def start_orgs(self, replica: bool = False):
        process, port = (self.orgs_replica, self.orgs_health[1]) if replica else (self.orgs, self.orgs_health[0])
        process.start().wait_ready(f"http://127.0.0.1:{port}/readyz")

    def start_gateway(self):
        self.gateway.start().wait_ready(f"{self.base_url}/readyz")

    def rpc(self):
        return ClusterRpcProxy({"AMQP_URI": self.amqp_uri}, timeout=15)

    def http(self, method: str, path: str, **kwargs) -> requests.Response:
        return requests.request(method, self.base_url + path, timeout=30, **kwargs)

    def listed_names(self) -> set[str]:
        items = self.http("GET", "/api/v1/organizations", params={"size": 200}).json()["items"]
        return {o["name"] for o in items}

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
        for process in (self.gateway, self.orgs_replica, self.orgs):
            process.stop()
        self.engine.dispose()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with pg_database() as database_url, rabbit_vhost() as (amqp_uri, vhost):
        cluster = Cluster(amqp_uri, vhost, database_url, tmp_path_factory.mktemp("logs"))
        try:
            cluster.start_orgs()
            cluster.start_gateway()
            yield cluster
        finally:
            cluster.stop_all()
