"""Access decisions on gateway replicas in distributed mode."""
import requests

from tests.support import CertplaneProcess, free_port


def test_a_logout_or_suspension_holds_at_once_on_every_gateway_replica(cluster, tmp_path):
    """Two gateway replicas share one read model: a token ended through one is refused by the other on the
    very next request — no cache to go stale."""
    port = free_port()
    second = CertplaneProcess("gateway-2", ["run", "gateway"], {**{k: v for k, v in cluster.gateway.env.items()
                                                                  if k.startswith(("AMQP", "CERTPLANE"))},
                                                               "CERTPLANE_HTTP_PORT": str(port)}, tmp_path)
    second.start().wait_ready(f"http://127.0.0.1:{port}/readyz")
    try:
        other = f"http://127.0.0.1:{port}"
        created = cluster.http("POST", "/api/v1/admins", json={
            "username": "replica-user", "email": "r@example.com", "forename": "Re", "surname": "Plica",
            "roles": [{"role": "MRAO"}], "password": "first replica secret"})
        assert created.status_code == 201, created.text
        token = requests.post(f"{cluster.base_url}/api/v1/auth/login", timeout=30, json={
            "username": "replica-user", "password": "first replica secret"}).json()["token"]
        bearer = {"Authorization": f"Bearer {token}"}
        assert requests.post(f"{other}/api/v1/auth/password", headers=bearer, timeout=30, json={
            "current_password": "first replica secret", "new_password": "second replica secret"}).status_code == 204
        assert requests.get(f"{other}/api/v1/organizations", headers=bearer, timeout=30).status_code == 200
        assert requests.post(f"{cluster.base_url}/api/v1/auth/logout", headers=bearer, timeout=30).status_code == 204
        refused = requests.get(f"{other}/api/v1/organizations", headers=bearer, timeout=30)
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "invalid_token"

        again = requests.post(f"{other}/api/v1/auth/login", timeout=30, json={
            "username": "replica-user", "password": "second replica secret"})
        assert again.status_code == 200, again.text
        token = again.json()["token"]
        bearer = {"Authorization": f"Bearer {token}"}
        assert requests.get(f"{cluster.base_url}/api/v1/auth/me", headers=bearer, timeout=30).status_code == 200
        admin_id = created.json()["admin_id"]
        assert cluster.http("POST", f"/api/v1/admins/{admin_id}/suspend").status_code == 200
        assert requests.get(f"{other}/api/v1/auth/me", headers=bearer, timeout=30).status_code == 401
    finally:
        second.stop()
