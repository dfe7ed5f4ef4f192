"""ACME (RFC 8555) over HTTP, with a hand-built client (tests/acme_jws.py) for what real clients never send: each
bad request gets its RFC problem type and changes nothing. The real clients (certbot, lego) are in
test_acme_clients.py. Organization A's domain is validated by email DCV through the REST API first, so its
authorizations are valid at once: DCV evidence is reused across protocols."""
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests import factories
from tests.acme_jws import Client, Key, b64, eab, jws
from tests.dns_server import DnsServer
from tests.http_server import HttpServer
from tests.e2e.conftest import Embedded, validate_by_email
from tests.e2e.test_ssl_lifecycle import wait_for_profiles

ORG = {"address1": "1 Main St", "city": "Berlin", "state": "Berlin", "country": "DE"}
ERR = "urn:ietf:params:acme:error:"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    dns, web = DnsServer().start(), HttpServer().start()
    server = Embedded(tmp_path_factory.mktemp("var"), tmp_path_factory.mktemp("logs"),
                      CERTPLANE_DNS_RESOLVER=dns.address, CERTPLANE_CAA_IDENTITIES="certplane.test",
                      CERTPLANE_ACME_HTTP_PORT=str(web.port), CERTPLANE_DCV_HTTP_ALLOW_PRIVATE="true",
                      # a public DNS name in the certificates' CRL/OCSP links, as public TLS needs (BR); not fetched
                      CERTPLANE_PKI_URL="http://pki.certplane-test.example.com").start()
    api = server.api
    orgs, domains = {}, {}
    for label, name in (("a", "alpha-acme.test"), ("b", "beta-acme.test"), ("g", "gamma-acme.test")):
        if label != "g":
            orgs[label] = api.create_org({"name": f"ACME {label.upper()} Org", **ORG})["organization_id"]
        created = api("POST", "/api/v1/domains", json={"name": name, "delegations": [
            {"organization_id": orgs["a" if label == "g" else label], "cert_types": ["ssl"]}]})
        assert created.status_code == 201, created.text
        domains[label] = created.json()
    validate_by_email(api, domains["a"])
    profile = next(p for p in wait_for_profiles(api) if p["name"] == "Private TLS Server")
    made = api("POST", "/api/v1/acme-accounts", json={"name": "web team", "organization_id": orgs["a"],
                                                      "profile_ids": [profile["profile_id"]]})
    assert made.status_code == 201, made.text
    yield {"server": server, "api": api, "orgs": orgs, "domains": domains, "eab": made.json()["eab"],
           "acme_account": made.json(), "profile": profile,
           "directory": f"{api.base_url}/acme/directory", "dns": dns, "web": web}
    server.stop()
    web.stop()
    dns.stop()


def new_client(world, kind: str = "ec-p256") -> Client:
    client = Client(world["directory"], Key(kind))
    response = client.register(world["eab"]["kid"], world["eab"]["hmac_key"])
    assert response.status_code == 201, response.text
    return client


def problem(response, type_: str, status: int | None = None) -> dict:
    assert response.headers["Content-Type"].startswith("application/problem+json"), response.text
    body = response.json()
    assert body["type"] == ERR + type_, body
    if status is not None:
        assert response.status_code == status, response.text
    assert response.headers.get("Replay-Nonce"), "every answer carries a fresh nonce"
    return body


def csr_der(*names: str, key=None) -> tuple[bytes, object]:
    key = key or ec.generate_private_key(ec.SECP256R1())
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])).add_extension(
        x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
    return builder.sign(key, factories_hash()).public_bytes(serialization.Encoding.DER), key


def factories_hash():
    from cryptography.hazmat.primitives import hashes
    return hashes.SHA256()


def settled(client: Client, order_url: str, body: dict, timeout: float = 30.0) -> dict:
    """The order once it is no longer processing (or after `timeout`), polled as Retry-After says (1 s)."""
    deadline = time.monotonic() + timeout
    while body["status"] == "processing" and time.monotonic() < deadline:
        time.sleep(1)
        body = client.post(order_url, None).json()
    return body


def order_names(client: Client, *names: str):
    return client.post(client.directory["newOrder"], {"identifiers": [{"type": "dns", "value": n} for n in names]})


def account_orders(client: Client) -> list:
    response = client.post(client.kid + "/orders", None)
    assert response.status_code == 200, response.text
    return response.json()["orders"]


# ---- directory and nonces -------------------------------------------------------------------------------------

def test_directory_names_every_resource_and_requires_external_account_binding(world):
    client = Client(world["directory"])
    d = client.directory
    for resource in ("newNonce", "newAccount", "newOrder", "revokeCert", "keyChange", "renewalInfo"):
        assert d[resource].startswith(world["api"].base_url + "/acme/"), resource
    assert d["meta"]["externalAccountRequired"] is True
    assert "Private TLS Server" in d["meta"]["profiles"]
    head = client.http.head(d["newNonce"])
    get = client.http.get(d["newNonce"])
    assert head.status_code == 200 and get.status_code == 204
    assert head.headers["Replay-Nonce"] != get.headers["Replay-Nonce"]
    assert head.headers["Cache-Control"] == "no-store"


def test_a_nonce_is_good_once_and_a_made_up_one_never(world):
    client = Client(world["directory"])
    nonce = client.nonce()
    payload = {"onlyReturnExisting": True}
    first = client.post(client.directory["newAccount"], payload, nonce=nonce)
    problem(first, "accountDoesNotExist")                    # the nonce was good: the request was read
    problem(client.post(client.directory["newAccount"], payload, nonce=nonce), "badNonce", 400)
    problem(client.post(client.directory["newAccount"], payload, nonce=b64(b"never issued here")), "badNonce")
    again = client.post(client.directory["newAccount"], payload)          # the fresh nonce of the answer works
    problem(again, "accountDoesNotExist")


# ---- accounts and External Account Binding ------------------------------------------------------------------

def test_an_account_needs_external_account_binding(world):
    client = Client(world["directory"])
    body = problem(client.post(client.directory["newAccount"], {"termsOfServiceAgreed": True}),
                   "externalAccountRequired")
    assert "administrator" in body["detail"]


def test_an_eab_mac_over_another_key_or_with_a_wrong_key_is_refused(world):
    client, other = Client(world["directory"]), Key()
    url = client.directory["newAccount"]
    binding = eab(world["eab"]["kid"], world["eab"]["hmac_key"], other.jwk, url)      # binds `other`, not ours
    problem(client.post(url, {"termsOfServiceAgreed": True, "externalAccountBinding": binding}), "unauthorized")
    wrong = eab(world["eab"]["kid"], b64(b"x" * 32), client.key.jwk, url)
    problem(client.post(url, {"termsOfServiceAgreed": True, "externalAccountBinding": wrong}), "unauthorized")
    unknown = eab("kid-unknown", world["eab"]["hmac_key"], client.key.jwk, url)
    problem(client.post(url, {"termsOfServiceAgreed": True, "externalAccountBinding": unknown}), "unauthorized")
    problem(client.post(url, {"onlyReturnExisting": True}), "accountDoesNotExist")   # none of them made one


def test_registering_the_same_key_again_returns_the_account(world):
    client = new_client(world)
    again = client.register(world["eab"]["kid"], world["eab"]["hmac_key"])
    assert again.status_code == 200 and again.headers["Location"] == client.kid
    existing = client.post(client.directory["newAccount"], {"onlyReturnExisting": True}, use_jwk=True)
    assert existing.status_code == 200 and existing.headers["Location"] == client.kid
    assert existing.json()["status"] == "valid"


@pytest.mark.parametrize("kind", ["ec-p384", "rsa-2048", "ed25519"])
def test_es384_rs256_and_eddsa_accounts_work(world, kind):
    client = new_client(world, kind)
    assert client.post(client.kid, None).json()["status"] == "valid"


def test_alg_none_and_mac_algorithms_are_refused_with_the_allowed_list(world):
    client = Client(world["directory"])
    url = client.directory["newAccount"]
    for alg in ("none", "HS256", "XYZ"):
        body = problem(client.post(url, {"termsOfServiceAgreed": True}, header={"alg": alg}),
                       "badSignatureAlgorithm", 400)
        assert set(body["algorithms"]) == {"RS256", "ES256", "ES384", "EdDSA"}


def test_header_rules_url_jwk_and_kid(world):
    client = new_client(world)
    problem(client.post(client.kid, None, header={"url": client.directory["newOrder"]}), "unauthorized")
    both = client.post(client.kid, None, header={"jwk": client.key.jwk})
    assert problem(both, "malformed")["detail"].startswith("the protected header has both jwk and kid")
    problem(client.post(client.directory["newOrder"], {"identifiers": []}, use_jwk=True), "malformed")
    problem(client.post(client.kid, None, sign_with=Key()), "malformed")               # not signed by the account
    other = new_client(world)
    problem(client.post(other.kid, None), "unauthorized")                             # another account's URL


def test_bad_bodies_get_problems_not_errors(world):
    client = new_client(world)
    plain = client.http.post(client.directory["newOrder"], data="{}", headers={"Content-Type": "text/plain"})
    problem(plain, "malformed", 415)
    garbage = client.http.post(client.directory["newOrder"], data="not json",
                               headers={"Content-Type": "application/jose+json"})
    problem(garbage, "malformed", 400)
    problem(client.post(client.directory["newOrder"], {"identifiers": [{"type": "email", "value": "a@b.c"}]}),
            "malformed")
    problem(client.post(client.directory["newOrder"], {"identifiers": "alpha-acme.test"}), "malformed")


def test_contact_update_key_rollover_and_deactivation(world):
    client = new_client(world)
    updated = client.post(client.kid, {"contact": ["mailto:pki@example.com"]})
    assert updated.status_code == 200 and updated.json()["contact"] == ["mailto:pki@example.com"]
    problem(client.post(client.kid, {"contact": ["tel:+15555555555"]}), "unsupportedContact")
    old, new = client.key, Key()
    url = client.directory["keyChange"]
    inner = jws(new, {"alg": new.alg, "jwk": new.jwk, "url": url}, {"account": client.kid, "oldKey": old.jwk})
    rolled = client.post(url, inner)
    assert rolled.status_code == 200, rolled.text
    problem(client.post(client.kid, None), "malformed")           # the old key no longer signs for the account
    client.key = new
    assert client.post(client.kid, None).status_code == 200
    deactivated = client.post(client.kid, {"status": "deactivated"})
    assert deactivated.status_code == 200 and deactivated.json()["status"] == "deactivated"
    problem(client.post(client.kid, None), "unauthorized")


# ---- orders ---------------------------------------------------------------------------------------------------

def test_an_order_for_another_organizations_name_is_refused_per_identifier(world):
    client = new_client(world)
    refused = order_names(client, "www.alpha-acme.test", "www.beta-acme.test")
    body = problem(refused, "rejectedIdentifier", 400)
    assert [s["identifier"]["value"] for s in body["subproblems"]] == ["www.beta-acme.test"]
    assert account_orders(client) == []                            # nothing recorded


def test_the_whole_flow_on_a_validated_domain_issues_into_the_organizations_inventory(world):
    api, client = world["api"], new_client(world)
    created = order_names(client, "shop.alpha-acme.test", "*.alpha-acme.test")
    assert created.status_code == 201, created.text
    order_url, order = created.headers["Location"], created.json()
    assert order["status"] == "ready"                  # the email DCV through REST covers both names: no challenge
    for authz_url in order["authorizations"]:
        authz = client.post(authz_url, None).json()
        assert authz["status"] == "valid" and authz["challenges"] == []
    # a CSR naming something else than the order is badCSR, and the order stays ready
    extra, _ = csr_der("shop.alpha-acme.test", "*.alpha-acme.test", "other.alpha-acme.test")
    refused = client.post(order["finalize"], {"csr": b64(extra)})
    assert "other.alpha-acme.test" in problem(refused, "badCSR", 400)["detail"]
    assert client.post(order_url, None).json()["status"] == "ready"
    der, key = csr_der("shop.alpha-acme.test", "*.alpha-acme.test")
    finalized = client.post(order["finalize"], {"csr": b64(der)})
    assert finalized.status_code == 200, finalized.text
    body = settled(client, order_url, finalized.json())
    assert body["status"] == "valid", body.get("error", {}).get("findings")
    problem(client.post(order["finalize"], {"csr": b64(der)}), "orderNotReady", 403)
    download = client.post(body["certificate"], None)
    assert download.status_code == 200
    assert download.headers["Content-Type"] == "application/pem-certificate-chain"
    assert 'rel="up"' in download.headers["Link"]
    leaf, issuer = x509.load_pem_x509_certificates(download.content)
    leaf.verify_directly_issued_by(issuer)
    assert set(leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
               .get_values_for_type(x509.DNSName)) == {"shop.alpha-acme.test", "*.alpha-acme.test"}
    assert leaf.public_key().public_numbers() == key.public_key().public_numbers()
    account_id = world["acme_account"]["acme_account_id"]
    listed = api("GET", "/api/v1/ssl", params={"organization_id": world["orgs"]["a"], "q": "shop.alpha-acme.test"})
    [row] = listed.json()["items"]
    assert row["requested_by"] == f"acme:{account_id}" and row["serial"] == format(leaf.serial_number, "x")
    # ARI: a window ahead; after revocation by the certificate's own key, a window open now
    aki = leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier
    cert_id = f"{b64(aki)}.{b64(leaf.serial_number.to_bytes((leaf.serial_number.bit_length() + 8) // 8, 'big'))}"
    window = client.http.get(f"{client.directory['renewalInfo']}/{cert_id}").json()["suggestedWindow"]
    assert window["start"] > time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    cert_key = Key()
    cert_key.private, cert_key.alg, cert_key.kind = key, "ES256", "ec-p256"
    revoke = {"certificate": b64(leaf.public_bytes(serialization.Encoding.DER)), "reason": 1}
    revoked = client.post(client.directory["revokeCert"], revoke, key=cert_key, use_jwk=True)
    assert revoked.status_code == 200, revoked.text
    assert api("GET", f"/api/v1/ssl/{row['ssl_id']}").json()["status"] == "revoked"
    problem(client.post(client.directory["revokeCert"], revoke), "alreadyRevoked")
    window = client.http.get(f"{client.directory['renewalInfo']}/{cert_id}").json()["suggestedWindow"]
    assert window["start"] <= time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def test_another_account_cannot_read_or_finalize_an_order(world):
    owner, stranger = new_client(world), new_client(world)
    created = order_names(owner, "api.alpha-acme.test")
    assert created.status_code == 201, created.text
    problem(stranger.post(created.headers["Location"], None), "malformed", 404)
    der, _ = csr_der("api.alpha-acme.test")
    problem(stranger.post(created.json()["finalize"], {"csr": b64(der)}), "malformed", 404)
    problem(stranger.post(created.json()["authorizations"][0], None), "malformed", 404)


def test_a_deactivated_acme_account_stops_its_clients_and_its_eab(world):
    api = world["api"]
    made = api("POST", "/api/v1/acme-accounts", json={"name": "short lived", "organization_id": world["orgs"]["a"],
                                                      "profile_ids": [world["profile"]["profile_id"]]}).json()
    client = Client(world["directory"])
    assert client.register(made["eab"]["kid"], made["eab"]["hmac_key"]).status_code == 201
    gone = api("POST", f"/api/v1/acme-accounts/{made['acme_account_id']}/deactivate")
    assert gone.status_code == 200, gone.text
    problem(order_names(client, "x.alpha-acme.test"), "unauthorized")
    late = Client(world["directory"])
    problem(late.register(made["eab"]["kid"], made["eab"]["hmac_key"]), "unauthorized")


def issue(client: Client, *names: str):
    created = order_names(client, *names)
    assert created.status_code == 201, created.text
    der, key = csr_der(*names)
    finalized = client.post(created.json()["finalize"], {"csr": b64(der)})
    assert finalized.status_code == 200, finalized.text
    body = settled(client, created.headers["Location"], finalized.json())
    assert body["status"] == "valid", body.get("error", {}).get("findings")
    leaf, _issuer = x509.load_pem_x509_certificates(client.post(body["certificate"], None).content)
    return leaf, key


def ari_client(world):
    """The `acme` library's client (certbot's), for its ARI: ClientV2.renewal_time."""
    import josepy
    from acme import client as acme_client
    network = acme_client.ClientNetwork(josepy.JWKEC(key=ec.generate_private_key(ec.SECP256R1())),
                                        alg=josepy.ES256, user_agent="certplane-tests")
    return acme_client.ClientV2(acme_client.ClientV2.get_directory(world["directory"], network), network)


def cert_id(leaf) -> str:
    aki = leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier
    serial = leaf.serial_number.to_bytes((leaf.serial_number.bit_length() + 8) // 8, "big")
    return f"{b64(aki)}.{b64(serial)}"


def test_a_renewal_campaign_opens_the_window_and_replaces_links_the_renewal(world):
    api, client = world["api"], new_client(world)
    leaf, _key = issue(client, "campaign.alpha-acme.test")
    url = f"{client.directory['renewalInfo']}/{cert_id(leaf)}"
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    assert client.http.get(url).json()["suggestedWindow"]["start"] > now
    ari = ari_client(world)
    pem = leaf.public_bytes(serialization.Encoding.PEM)
    renew_at, _next_ask = ari.renewal_time(pem)                 # the acme library's ARI, as certbot asks it
    assert renew_at.timestamp() > time.time() + 30 * 86400     # (naive or aware: timestamp() reads both)
    refused = api("POST", "/api/v1/acme-renewal-campaigns", json={"reason": "no criterion"})
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "campaign_without_criteria"
    started = api("POST", "/api/v1/acme-renewal-campaigns", json={"organization_id": world["orgs"]["a"],
                                                                  "key_type": "ec-p256", "reason": "key ceremony"})
    assert started.status_code == 201, started.text
    info = client.http.get(url).json()
    assert info["suggestedWindow"]["start"] <= time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    renew_at, _next_ask = ari.renewal_time(pem)
    assert renew_at.timestamp() <= time.time() + 60
    assert info["explanationURL"].endswith(started.json()["campaign_id"])
    # the renewal names its predecessor; the inventory links the two
    created = client.post(client.directory["newOrder"], {
        "identifiers": [{"type": "dns", "value": "campaign.alpha-acme.test"}], "replaces": cert_id(leaf)})
    assert created.status_code == 201 and created.json()["replaces"] == cert_id(leaf), created.text
    der, _ = csr_der("campaign.alpha-acme.test")
    client.post(created.json()["finalize"], {"csr": b64(der)})
    old = api("GET", "/api/v1/ssl", params={"serial": format(leaf.serial_number, "x")}).json()["items"][0]
    assert old["renewed_by"], old
    problem(client.post(client.directory["newOrder"], {
        "identifiers": [{"type": "dns", "value": "campaign.alpha-acme.test"}], "replaces": cert_id(leaf)}),
        "alreadyReplaced", 409)
    other = new_client(world)
    problem(other.post(other.directory["newOrder"], {
        "identifiers": [{"type": "dns", "value": "campaign.alpha-acme.test"}], "replaces": cert_id(leaf)}),
        "malformed")


# ---- challenges: the pipeline through domains (gamma-acme.test is organization A's, not validated) ------------

def wait_authorization(client: Client, url: str, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        body = client.post(url, None).json()
        if body["status"] != "pending" or time.monotonic() > deadline:
            return body
        time.sleep(0.3)


def test_http01_validates_the_authorization_and_a_later_order_reuses_it(world):
    client, web, dns = new_client(world), world["web"], world["dns"]
    dns.set("www.gamma-acme.test", "A", ["127.0.0.1"])
    created = order_names(client, "www.gamma-acme.test")
    assert created.status_code == 201 and created.json()["status"] == "pending", created.text
    [authz_url] = created.json()["authorizations"]
    authz = client.post(authz_url, None).json()
    assert authz["status"] == "pending"
    assert {c["type"] for c in authz["challenges"]} == {"http-01", "dns-01", "tls-alpn-01"}
    http = next(c for c in authz["challenges"] if c["type"] == "http-01")
    web.serve(f"/.well-known/acme-challenge/{http['token']}", f"{http['token']}.{client.key.thumbprint}")
    answered = client.post(http["url"], {})
    assert answered.status_code == 200 and answered.json()["status"] in ("processing", "valid"), answered.text
    assert answered.headers["Link"].startswith(f"<{authz_url}>")
    assert wait_authorization(client, authz_url)["status"] == "valid"
    assert client.post(created.headers["Location"], None).json()["status"] == "ready"
    again = order_names(client, "www.gamma-acme.test")
    assert again.json()["authorizations"] == [authz_url] and again.json()["status"] == "ready"
    stranger = new_client(world)                                # reuse is per account
    assert order_names(stranger, "www.gamma-acme.test").json()["status"] == "pending"


def test_a_wrong_http01_answer_makes_the_authorization_and_order_invalid(world):
    client, web, dns = new_client(world), world["web"], world["dns"]
    dns.set("bad.gamma-acme.test", "A", ["127.0.0.1"])
    created = order_names(client, "bad.gamma-acme.test")
    [authz_url] = created.json()["authorizations"]
    http = next(c for c in client.post(authz_url, None).json()["challenges"] if c["type"] == "http-01")
    web.serve(f"/.well-known/acme-challenge/{http['token']}", "not the key authorization")
    client.post(http["url"], {})
    authz = wait_authorization(client, authz_url)
    assert authz["status"] == "invalid"
    failed = next(c for c in authz["challenges"] if c["type"] == "http-01")
    assert failed["status"] == "invalid" and failed["error"]["type"] == ERR + "incorrectResponse"
    order = client.post(created.headers["Location"], None).json()
    assert order["status"] == "invalid" and order["error"]["type"] == ERR + "incorrectResponse"


def test_dns01_through_a_cname_validates_and_becomes_the_domains_dcv_evidence(world):
    """dns-01 for the domain's own name proves the domain: REST shows it validated, and an order for any name
    under it (another account's too) is ready at once — evidence reused across protocols."""
    import hashlib
    api, client, dns = world["api"], new_client(world), world["dns"]
    created = order_names(client, "gamma-acme.test")
    [authz_url] = created.json()["authorizations"]
    challenge = next(c for c in client.post(authz_url, None).json()["challenges"] if c["type"] == "dns-01")
    digest = b64(hashlib.sha256(f"{challenge['token']}.{client.key.thumbprint}".encode()).digest())
    dns.set("_acme-challenge.gamma-acme.test", "CNAME", ["gamma.validation.test."])
    dns.set("gamma.validation.test", "TXT", [f'"{digest}"'])
    client.post(challenge["url"], {})
    assert wait_authorization(client, authz_url)["status"] == "valid"
    domain = world["domains"]["g"]
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        dcv = api("GET", f"/api/v1/domains/{domain['domain_id']}").json().get("dcv") or {}
        if dcv.get("status") == "validated":
            break
        time.sleep(0.3)
    assert dcv.get("status") == "validated" and dcv.get("method") == "acme-dns", dcv
    other = new_client(world)
    deadline = time.monotonic() + 20
    while (status := order_names(other, "deep.gamma-acme.test").json()["status"]) != "ready" \
            and time.monotonic() < deadline:
        time.sleep(0.5)
    assert status == "ready"


def test_an_ip_identifier_of_a_delegated_network_validates_by_http01_and_issues(world):
    """RFC 8738 under a private profile: 127.0.0.0/24 delegated to organization A; http-01 is fetched from the
    address itself."""
    api, client, web = world["api"], new_client(world), world["web"]
    network = api("POST", "/api/v1/networks", json={"cidr": "127.0.0.0/24", "delegations": [
        {"organization_id": world["orgs"]["a"], "cert_types": ["ssl"]}]})
    assert network.status_code == 201, network.text
    created = client.post(client.directory["newOrder"], {"identifiers": [{"type": "ip", "value": "127.0.0.1"}]})
    assert created.status_code == 201, created.text
    [authz_url] = created.json()["authorizations"]
    authz = client.post(authz_url, None).json()
    assert authz["identifier"] == {"type": "ip", "value": "127.0.0.1"}
    assert {c["type"] for c in authz["challenges"]} == {"http-01", "tls-alpn-01"}
    http = next(c for c in authz["challenges"] if c["type"] == "http-01")
    web.serve(f"/.well-known/acme-challenge/{http['token']}", f"{http['token']}.{client.key.thumbprint}")
    client.post(http["url"], {})
    assert wait_authorization(client, authz_url)["status"] == "valid"
    import ipaddress
    key = ec.generate_private_key(ec.SECP256R1())
    der = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([])).add_extension(
        x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False).sign(
        key, factories_hash()).public_bytes(serialization.Encoding.DER)
    finalized = client.post(created.json()["finalize"], {"csr": b64(der)})
    assert finalized.status_code == 200, finalized.text
    body = settled(client, created.headers["Location"], finalized.json())
    assert body["status"] == "valid", body.get("error")
    leaf, _ = x509.load_pem_x509_certificates(client.post(body["certificate"], None).content)
    assert leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]


def test_a_public_profile_checks_caa_with_accounturi_and_refuses_ip_addresses(world):
    """Public TLS: CAA is honoured with RFC 8657's parameters (fail closed), an http-01 proof is the DCV of that
    name (BR 3.2.2.4.19), and no IP address is ordered."""
    api, dns, web = world["api"], world["dns"], world["web"]
    created = api("POST", "/api/v1/domains", json={"name": "delta-acme.example.com", "delegations": [
        {"organization_id": world["orgs"]["a"], "cert_types": ["ssl"]}]})
    assert created.status_code == 201, created.text
    public = next(p for p in wait_for_profiles(api) if p["name"] == "Public TLS")
    made = api("POST", "/api/v1/acme-accounts", json={"name": "public web", "organization_id": world["orgs"]["a"],
                                                      "profile_ids": [public["profile_id"]]}).json()
    client = Client(world["directory"])
    assert client.register(made["eab"]["kid"], made["eab"]["hmac_key"]).status_code == 201
    problem(client.post(client.directory["newOrder"], {"identifiers": [{"type": "ip", "value": "127.0.0.1"}]}),
            "rejectedIdentifier")
    internal = problem(order_names(client, "www.gamma-acme.test"), "rejectedIdentifier")  # .test: internal name
    assert "internal name" in internal["subproblems"][0]["detail"]

    def prove(name: str) -> dict:
        dns.set(name, "A", ["127.0.0.1"])
        order = order_names(client, name)
        assert order.status_code == 201, order.text
        [authz_url] = order.json()["authorizations"]
        http = next(c for c in client.post(authz_url, None).json()["challenges"] if c["type"] == "http-01")
        web.serve(f"/.well-known/acme-challenge/{http['token']}", f"{http['token']}.{client.key.thumbprint}")
        client.post(http["url"], {})
        return {"order": order, "authz": wait_authorization(client, authz_url)}

    dns.set("delta-acme.example.com", "CAA", ['0 issue "certplane.test; accounturi=https://elsewhere.example/acct/1"'])
    refused = prove("www.delta-acme.example.com")["authz"]
    assert refused["status"] == "invalid"
    assert next(c for c in refused["challenges"] if c["type"] == "http-01")["error"]["type"] == ERR + "caa"
    dns.set("delta-acme.example.com", "CAA", [f'0 issue "certplane.test; accounturi={client.kid}"'])
    proven = prove("shop.delta-acme.example.com")
    assert proven["authz"]["status"] == "valid"
    der, _ = csr_der("shop.delta-acme.example.com")
    finalized = client.post(proven["order"].json()["finalize"], {"csr": b64(der)})
    assert finalized.json()["status"] == "processing"        # the Public TLS profile needs an approval
    assert finalized.headers["Retry-After"] == "1"
    [waiting] = api("GET", "/api/v1/ssl", params={"q": "shop.delta-acme.example.com"}).json()["items"]
    assert waiting["status"] == "requested" and waiting["requested_by"] == f"acme:{made['acme_account_id']}"
    approved = api("POST", f"/api/v1/ssl/{waiting['ssl_id']}/approve", json={"message": "ok for ACME"})
    assert approved.status_code in (200, 201), approved.text
    order_url = proven["order"].headers["Location"]
    body = settled(client, order_url, client.post(order_url, None).json())
    assert body["status"] == "valid", body
