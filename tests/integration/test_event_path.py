"""Events travel from the orgs store through RabbitMQ to the gateway's directory: pushed, caught up after a stop,
deduplicated, gap-filled, and consistent after kill -9. Commands go to orgs over RPC (not through the gateway,
whose read-your-writes pull would hide a lost message)."""
import json
import subprocess
import threading
import uuid
from datetime import datetime, timezone
from urllib.parse import quote

import sqlalchemy as sa
from kombu import Connection, Exchange, Producer

from gateway.directory import OrgDirectory
from services.runtime.db import make_database
from services.runtime.follower import Follower
from tests import factories
from tests.support import CERTPLANE, rabbit_api, wait_until

QUEUE = "follow-orgs--gateway"


def create_org(cluster, **overrides):
    with cluster.rpc() as rpc:
        return rpc.orgs.create_organization(factories.organization(**overrides))


def test_an_event_appended_in_orgs_reaches_the_gateway_directory(cluster):
    name = f"Pushed {uuid.uuid4().hex[:6]}"
    create_org(cluster, name=name)
    wait_until(lambda: name in cluster.listed_names(), message="the pushed event in the directory")


def test_a_stopped_consumer_catches_up_after_restart(cluster):
    cluster.gateway.stop()
    names = [f"While away {i} {uuid.uuid4().hex[:6]}" for i in range(5)]
    for name in names:
        create_org(cluster, name=name)
    cluster.start_gateway()
    assert set(names) <= cluster.listed_names()   # ready means caught up
    assert cluster.gateway_position() == cluster.orgs_head()


def test_a_duplicated_delivery_is_applied_once(cluster):
    org = create_org(cluster)["organization"]
    with cluster.rpc() as rpc:
        dept = rpc.orgs.create_department(org["organization_id"], {"name": "Twice"})
        envelope = rpc.orgs.read_events(dept["position"] - 1, 1)[0]
    assert envelope["event_type"] == "department_created.v1"
    path = f"/api/v1/organizations/{org['organization_id']}/departments"
    wait_until(lambda: cluster.http("GET", path).json()["total"] == 1, message="department in directory")
    with Connection(cluster.amqp_uri) as conn:  # the broker delivers the same message again
        Producer(conn).publish(envelope, exchange=Exchange("orgs.events", type="topic", durable=True),
                               routing_key=envelope["event_type"], serializer="json", retry=True)
    marker = create_org(cluster)["organization"]["name"]  # a later event, to know the duplicate was handled
    wait_until(lambda: marker in cluster.listed_names(), message="the later event")
    org_row = cluster.http("GET", "/api/v1/organizations", params={"name": org["name"]}).json()["items"][0]
    assert org_row["department_count"] == 1
    assert cluster.http("GET", path).json()["total"] == 1


def test_a_dropped_message_is_recovered_by_gap_fill(cluster):
    vhost = quote(cluster.vhost, safe="")
    binding = f"/bindings/{vhost}/e/orgs.events/q/{QUEUE}"
    [bound] = rabbit_api("GET", binding).json()
    rabbit_api("DELETE", f"{binding}/{quote(bound['properties_key'], safe='')}")
    lost = f"Lost {uuid.uuid4().hex[:6]}"
    position = create_org(cluster, name=lost)["position"]  # published while no queue is bound: dropped
    wait_until(lambda: cluster.published_position() >= position, message="the relay to publish the lost event")
    rabbit_api("POST", binding, json={"routing_key": "#"})
    assert lost not in cluster.listed_names()
    found = f"Found {uuid.uuid4().hex[:6]}"
    create_org(cluster, name=found)  # its position is one past the lost one: the gateway sees the gap
    wait_until(lambda: {lost, found} <= cluster.listed_names(), message="gap fill")
    assert '"follower_gap_filled"' in cluster.gateway.output()


def _directory_rows(engine, schema):
    with engine.connect() as conn:
        orgs = conn.execute(sa.text(f"SELECT organization_id, name, name_key, city, state, country, "
                                    f"validation_status, department_count, updated_at FROM {schema}"
                                    f".directory_organizations ORDER BY organization_id")).all()
        depts = conn.execute(sa.text(f"SELECT department_id, organization_id, name, name_key FROM {schema}"
                                     f".directory_departments ORDER BY department_id")).all()
    normal = [tuple(v.astimezone(timezone.utc).isoformat() if isinstance(v, datetime) else v for v in row)
              for row in orgs]
    return normal, [tuple(row) for row in depts]


def test_kill_9_of_the_consumer_mid_stream_leaves_the_read_model_equal_to_a_full_rebuild(cluster):
    stop = threading.Event()
    created = []

    def write():
        with cluster.rpc() as rpc:
            while not stop.is_set() and len(created) < 400:
                org = rpc.orgs.create_organization(factories.organization())["organization"]
                rpc.orgs.create_department(org["organization_id"], factories.department())
                if len(created) % 3 == 0:
                    rpc.orgs.update_organization(org["organization_id"], {"city": "Renamed"})
                created.append(org["organization_id"])

    writer = threading.Thread(target=write)
    start = cluster.gateway_position()
    writer.start()
    wait_until(lambda: cluster.gateway_position() > start + 30, timeout=60, message="the consumer mid-stream")
    cluster.gateway.kill9()
    killed_at = cluster.gateway_position()
    wait_until(lambda: len(created) > 60, timeout=60, message="more events while the consumer is dead")
    cluster.start_gateway()
    stop.set()
    writer.join(60)
    head = cluster.orgs_head()
    wait_until(lambda: cluster.gateway_position() == head, timeout=60, message="consumer caught up")
    assert killed_at < head

    # a full rebuild, with the same projection code, into a fresh schema, pulling orgs' whole log over RPC
    rebuilt_db = make_database(cluster.database_url, "rebuilt_directory")
    metadata = sa.MetaData(schema="rebuilt_directory")
    follower = Follower(rebuilt_db, metadata, "orgs", OrgDirectory(metadata))
    rebuilt_db.create_tables(metadata)
    follower.setup()
    with cluster.rpc() as rpc:
        follower.rebuild(lambda after, limit: rpc.orgs.read_events(after, limit))
    rebuilt_db.dispose()
    assert follower.position() == head
    assert _directory_rows(cluster.engine, "gateway") == _directory_rows(cluster.engine, "rebuilt_directory")


def test_two_orgs_replicas_share_one_log_and_one_relay(cluster):
    cluster.start_orgs(replica=True)
    try:
        names = [f"Replica {i} {uuid.uuid4().hex[:6]}" for i in range(20)]
        for name in names:  # through the gateway: its RPCs are spread over both replicas
            assert cluster.http("POST", "/api/v1/organizations", json=factories.organization(name=name)
                                ).status_code == 201
        assert set(names) <= cluster.listed_names()
        leaders = [p.name for p in (cluster.orgs, cluster.orgs_replica) if '"relay_leader"' in p.output()]
        assert leaders == ["orgs"]  # the replica stands by
        cluster.orgs.stop()        # the leader goes away: the replica's relay takes over
        late = f"After failover {uuid.uuid4().hex[:6]}"
        create_org(cluster, name=late)
        wait_until(lambda: late in cluster.listed_names(), timeout=30, message="event relayed by the replica")
        assert '"relay_leader"' in cluster.orgs_replica.output()
        verified = subprocess.run([CERTPLANE, "audit", "verify", "orgs"], capture_output=True, text=True,
                                  env={**cluster.orgs.env}, timeout=60)
        report = json.loads(verified.stdout)
        assert verified.returncode == 0 and report["ok"] and report["checked"] == cluster.orgs_head()
    finally:
        cluster.orgs_replica.stop()
        if cluster.orgs.proc.poll() is not None:
            cluster.start_orgs()


def test_the_http_flow_in_distributed_mode(cluster):
    created = cluster.http("POST", "/api/v1/organizations", json=factories.organization(name="Distributed Co"))
    assert created.status_code == 201, created.text
    org_id = created.json()["organization_id"]
    dept = cluster.http("POST", f"/api/v1/organizations/{org_id}/departments", json={"name": "Platform"})
    assert dept.status_code == 201 and dept.json()["organization_name"] == "Distributed Co"
    listed = cluster.http("GET", "/api/v1/organizations", params={"name": "Distributed Co"}).json()
    assert listed["items"][0]["department_count"] == 1
    ready = cluster.http("GET", "/readyz")
    # no ca runs in this cluster: the certificate statuses (OCSP's read model) wait for it, shown but not a
    # condition of readiness — without them OCSP asks the ca, and the rest of the API does not need them
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"broker": "ok", "database:gateway": "ok", "directory:orgs": "ok",
                                      "principals:identity": "ok", "certificate_status:ca": "catching up"}

