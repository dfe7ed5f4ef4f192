"""The OpenAPI document, health endpoints, data that survives a restart, and the operator commands."""
import json
import re

from openapi_spec_validator import validate

from gateway.openapi import routes
from gateway.service import GatewayService
from tests import factories


def test_the_openapi_document_validates_and_lists_every_route(api):
    document = api("GET", "/api/v1/openapi.json").json()
    validate(document)
    documented = {(method.upper(), path) for path, ops in document["paths"].items() for method in ops}
    served = {(r.method, re.sub(r"<(?:[a-z_]+(?:\([a-z_,]+\))?:)?([a-z_]+)>", r"{\1}", r.url))
              for r in routes(GatewayService)}
    assert documented == served
    create = document["paths"]["/api/v1/organizations"]["post"]
    assert create["requestBody"]["content"]["application/json"]["schema"]
    assert {"201", "400", "409", "413"} <= set(create["responses"])


def test_health_and_readiness(api):
    assert api("GET", "/healthz").json() == {"status": "ok"}
    ready = api("GET", "/readyz").json()
    assert ready["status"] == "ok" and ready["checks"]["broker"] == "ok"


def test_data_survives_a_restart_and_the_audit_chain_verifies(embedded):
    api = embedded.api
    org = api.create_org(factories.organization(name="Persistent Inc"))
    api("POST", f"/api/v1/organizations/{org['organization_id']}/departments", json={"name": "Archive"})
    embedded.stop()
    verified = embedded.cli("audit", "verify", "orgs")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert json.loads(verified.stdout)["ok"] is True
    rebuilt = embedded.cli("projections", "rebuild", "gateway")
    assert rebuilt.returncode == 0 and \
        json.loads(rebuilt.stdout)["rewound_followers"] == ["orgs", "identity", "ca"]   # ca: OCSP's statuses
    embedded.start()
    listed = api("GET", "/api/v1/organizations", params={"name": "Persistent Inc"}).json()
    assert listed["total"] == 1 and listed["items"][0]["department_count"] == 1  # refilled from orgs' events
    assert api("GET", f"/api/v1/organizations/{org['organization_id']}").json()["name"] == "Persistent Inc"


def test_a_second_embedded_certplane_on_the_same_data_is_refused(embedded):
    second = embedded.cli("run")
    assert second.returncode != 0
    assert "already running" in second.stderr


def test_twenty_concurrent_clients_are_all_served(api):
    """Regression: ten pushed events waiting for a worker once starved the RPC replies of embedded mode."""
    import concurrent.futures

    def create(i):
        return api("POST", "/api/v1/organizations", json=factories.organization(name=f"Concurrent {i}")).status_code

    with concurrent.futures.ThreadPoolExecutor(20) as pool:
        statuses = list(pool.map(create, range(60)))
    assert statuses == [201] * 60
    assert api("GET", "/api/v1/organizations", params={"q": "Concurrent"}).json()["total"] == 60
