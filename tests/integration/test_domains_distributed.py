"""Domains and mail in distributed mode: two `domains` replicas and one `notify` as their own processes on
RabbitMQ and PostgreSQL, beside the cluster's orgs, identity and gateway. Email DCV goes through the event
stream to notify, out over a real SMTP server, and back through the public link; racing approvals land on
different replicas and still make one transition."""
import re
import threading

import pytest
import requests

from tests.dns_server import DnsServer
from tests.smtp_server import SmtpServer
from tests.support import CertplaneProcess, free_port

ORG = {"address1": "1 Main St", "city": "Berlin", "state": "Berlin", "country": "DE"}


@pytest.fixture(scope="module")
def mail_and_domains(cluster, tmp_path_factory):
    logs = tmp_path_factory.mktemp("domains-logs")
    with SmtpServer() as smtp, DnsServer() as dns:
        common = {k: v for k, v in cluster.gateway.env.items() if k.startswith(("AMQP", "CERTPLANE"))
                  and k not in ("CERTPLANE_HTTP_PORT",)}
        # notify and domains pull what they missed every second here (the cluster's default is an hour)
        env = {**common, "CERTPLANE_CATCH_UP_INTERVAL": "1", "CERTPLANE_DNS_RESOLVER": dns.address,
               "CERTPLANE_CAA_IDENTITIES": "certplane.test", "CERTPLANE_SMTP_HOST": "127.0.0.1",
               "CERTPLANE_SMTP_PORT": str(smtp.port), "CERTPLANE_PUBLIC_BASE_URL": cluster.base_url}
        processes = []
        for name, service in (("domains", "domains"), ("domains-2", "domains"), ("notify", "notify")):
            port = free_port()
            process = CertplaneProcess(name, ["run", service], {**env, "CERTPLANE_HEALTH_PORT": str(port)}, logs)
            process.start().wait_ready(f"http://127.0.0.1:{port}/readyz")
            processes.append(process)
        try:
            yield smtp, dns
        finally:
            for process in reversed(processes):
                process.stop()


def _domain(cluster, name: str) -> dict:
    org = cluster.http("POST", "/api/v1/organizations", json={"name": f"Dist {name}", **ORG})
    assert org.status_code == 201, org.text
    response = cluster.http("POST", "/api/v1/domains", json={"name": name, "delegations": [
        {"organization_id": org.json()["organization_id"], "cert_types": ["ssl"]}]})
    assert response.status_code == 201, response.text
    return {**response.json(), "organization_id": org.json()["organization_id"]}


def test_email_dcv_through_the_event_stream_and_real_smtp(cluster, mail_and_domains):
    smtp, _dns = mail_and_domains
    found = _domain(cluster, "dist-mail.example")
    started = cluster.http("POST", f"/api/v1/domains/{found['domain_id']}/dcv",
                           json={"method": "email", "email_address": "admin@dist-mail.example"})
    assert started.status_code == 201, started.text
    [mail] = smtp.wait_for(1, timeout=30)
    text = mail.get_content()
    link = re.search(r"(http://\S+/dcv/[0-9a-f-]{36})", text).group(1)
    code = re.search(r"Code: (\S+)", text).group(1)
    assert link.startswith(cluster.base_url)
    answer = requests.post(link, json={"code": code}, timeout=30)
    assert answer.status_code == 200 and answer.json()["validated"], answer.text
    listed = cluster.http("GET", "/api/v1/domains", params={"dcv_status": "validated"}).json()["items"]
    assert "dist-mail.example" in {d["name"] for d in listed}
    assert len(smtp.messages) == 1


def test_racing_approvals_on_two_replicas_make_one_transition(cluster, mail_and_domains):
    found = _domain(cluster, "dist-race.example")            # delegated to its organization by the operator
    domain_path = f"/api/v1/domains/{found['domain_id']}"
    other = cluster.http("POST", "/api/v1/organizations", json={"name": "Dist race B", **ORG}).json()
    created = cluster.http("POST", "/api/v1/admins", json={
        "username": "dist-rao", "email": "dist-rao@example.com", "forename": "Dist", "surname": "Rao",
        "roles": [{"role": "RAO", "cert_type": "ssl",
                   "organization_ids": [found["organization_id"], other["organization_id"]]}],
        "password": "dist rao first secret"})
    assert created.status_code == 201, created.text
    token = requests.post(f"{cluster.base_url}/api/v1/auth/login", timeout=30,
                          json={"username": "dist-rao", "password": "dist rao first secret"}).json()["token"]
    rao = {"Authorization": f"Bearer {token}"}
    assert requests.post(f"{cluster.base_url}/api/v1/auth/password", headers=rao, timeout=30, json={
        "current_password": "dist rao first secret", "new_password": "dist rao second secret"}).status_code == 204
    for _round in range(5):    # each pair of approvals lands on whichever domains replicas take the RPCs
        requested = requests.post(f"{cluster.base_url}{domain_path}/delegations", headers=rao, timeout=30,
                                  json={"organization_id": other["organization_id"], "cert_types": ["ssl"]})
        assert requested.status_code == 201, requested.text
        [pending] = [d for d in requested.json()["delegations"] if d["status"] == "requested"]
        approve = f"{domain_path}/delegations/{pending['delegation_id']}/approve"
        answers = []
        threads = [threading.Thread(target=lambda: answers.append(cluster.http("POST", approve).status_code))
                   for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(answers) == [200, 409], answers
        after = cluster.http("GET", domain_path).json()
        assert [d["status"] for d in after["delegations"]] == ["approved", "approved"]
        assert cluster.http("DELETE", f"{domain_path}/delegations/{pending['delegation_id']}").status_code == 200
