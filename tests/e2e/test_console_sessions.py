"""Console sessions over HTTP (issue 12, DESIGN §5): the browser login sets an HttpOnly, SameSite=Strict cookie
(Secure over HTTPS); every state-changing request made with it needs the session's CSRF token and must come from
this origin; logout clears it; a session idle longer than CERTPLANE_SESSION_IDLE_TIMEOUT ends (the console's own
background polls do not keep it alive). Bearer tokens and API keys work exactly as before, without CSRF tokens.
Each refusal is a 401/403 with its code, and changes nothing."""
import time

import pytest
import requests

from tests import factories
from tests.e2e.actors import error_of, unique
from tests.e2e.conftest import Embedded

SESSION = "/api/v1/auth/session"
ME = "/api/v1/auth/me"
ORGS = "/api/v1/organizations"
IDLE = 3        # seconds: the idle timeout of this module's server


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    made = Embedded(tmp_path_factory.mktemp("var"), tmp_path_factory.mktemp("logs"),
                    CERTPLANE_SESSION_IDLE_TIMEOUT=str(IDLE)).start()
    yield made
    made.stop()


def browser_login(server, **headers) -> tuple[requests.Session, dict, requests.Response]:
    """What the console's login does: (a cookie jar holding the session, the answer, the raw response)."""
    jar = requests.Session()
    response = jar.post(server.api.base_url + SESSION, json={"username": "admin", "password": server.admin_password},
                        headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    return jar, response.json(), response


def org_count(server) -> int:
    return server.api.count_orgs()


def test_the_browser_login_sets_an_httponly_samesite_strict_cookie_and_answers_no_token(server):
    _jar, answer, response = browser_login(server)
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("certplane_session=cps_")
    flags = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "path", "max-age"} <= flags and "secure" not in flags        # plain HTTP here
    assert "SameSite=Strict" in cookie
    assert "token" not in answer and answer["csrf_token"] and answer["idle_timeout_seconds"] == IDLE


def test_the_cookie_is_secure_when_the_browser_came_over_https(server):
    _jar, _answer, response = browser_login(server, **{"X-Forwarded-Proto": "https"})
    assert "; Secure" in response.headers["Set-Cookie"]


def test_reads_need_only_the_cookie_and_me_gives_the_csrf_token_again(server):
    jar, answer, _ = browser_login(server)
    me = jar.get(server.api.base_url + ME, timeout=30)
    assert me.status_code == 200 and me.json()["username"] == "admin"
    assert me.json()["csrf_token"] == answer["csrf_token"]
    assert jar.get(server.api.base_url + ORGS, timeout=30).status_code == 200


def test_a_change_with_the_cookie_and_the_csrf_token_goes_through(server):
    jar, answer, _ = browser_login(server)
    before = org_count(server)
    made = jar.post(server.api.base_url + ORGS, json=factories.organization(name=unique("Cookie org ")),
                    headers={"X-CSRF-Token": answer["csrf_token"], "Origin": server.api.base_url,
                             "Sec-Fetch-Site": "same-origin"}, timeout=30)
    assert made.status_code == 201, made.text
    assert org_count(server) == before + 1


@pytest.mark.parametrize("headers,code", [
    ({}, "csrf_token_missing"),
    ({"X-CSRF-Token": "forged"}, "csrf_token_invalid"),
    ({"X-CSRF-Token": "<right>", "Origin": "http://attacker.example"}, "cross_site_request"),
    ({"X-CSRF-Token": "<right>", "Sec-Fetch-Site": "cross-site"}, "cross_site_request"),
    ({"X-CSRF-Token": "<right>", "Sec-Fetch-Site": "same-site"}, "cross_site_request"),
])
def test_a_change_with_the_cookie_but_no_proof_of_origin_is_403_and_changes_nothing(server, headers, code):
    jar, answer, _ = browser_login(server)
    headers = {k: (answer["csrf_token"] if v == "<right>" else v) for k, v in headers.items()}
    before = org_count(server)
    refused = jar.post(server.api.base_url + ORGS, json=factories.organization(name=unique("Forged org ")),
                       headers=headers, timeout=30)
    assert refused.status_code == 403 and error_of(refused)["code"] == code, refused.text
    assert org_count(server) == before


def test_a_form_post_with_the_cookie_is_refused_before_its_body_is_read(server):
    jar, _answer, _ = browser_login(server)
    before = org_count(server)
    refused = jar.post(server.api.base_url + ORGS, data={"name": "x"}, timeout=30)
    assert refused.status_code == 403 and error_of(refused)["code"] == "csrf_token_missing"
    assert org_count(server) == before


def test_another_sessions_csrf_token_does_not_fit(server):
    jar, _mine, _ = browser_login(server)
    _other_jar, theirs, _ = browser_login(server)
    refused = jar.post(server.api.base_url + ORGS, json=factories.organization(name=unique("Swap org ")),
                       headers={"X-CSRF-Token": theirs["csrf_token"]}, timeout=30)
    assert refused.status_code == 403 and error_of(refused)["code"] == "csrf_token_invalid"


def test_bearer_tokens_need_no_csrf_token_as_before(server):
    before = org_count(server)
    server.api.create_org(factories.organization(name=unique("Bearer org ")))
    assert org_count(server) == before + 1


def test_logout_clears_the_cookie_and_ends_the_session(server):
    jar, answer, _ = browser_login(server)
    token = jar.cookies["certplane_session"]
    out = jar.post(server.api.base_url + "/api/v1/auth/logout", headers={"X-CSRF-Token": answer["csrf_token"]},
                   timeout=30)
    assert out.status_code == 204
    assert "certplane_session=;" in out.headers["Set-Cookie"] and "certplane_session" not in jar.cookies
    replayed = requests.get(server.api.base_url + ME, cookies={"certplane_session": token}, timeout=30)
    assert replayed.status_code == 401 and error_of(replayed)["code"] == "invalid_token"


def test_logout_without_the_csrf_token_is_refused(server):
    jar, _answer, _ = browser_login(server)
    refused = jar.post(server.api.base_url + "/api/v1/auth/logout", timeout=30)
    assert refused.status_code == 403 and error_of(refused)["code"] == "csrf_token_missing"
    assert jar.get(server.api.base_url + ME, timeout=30).status_code == 200


def test_an_api_key_in_the_cookie_is_not_accepted(server):
    issued = server.api("POST", f"/api/v1/admins/{server.api('GET', ME).json()['admin_id']}/api-keys",
                        json={"name": unique("cookie key ")})
    assert issued.status_code == 201, issued.text
    refused = requests.get(server.api.base_url + ME, cookies={"certplane_session": issued.json()["key"]}, timeout=30)
    assert refused.status_code == 401 and error_of(refused)["code"] == "invalid_token"


def test_an_idle_session_ends_and_background_polls_do_not_keep_it_alive(server):
    jar, _answer, _ = browser_login(server)
    deadline = time.monotonic() + IDLE + 2
    while time.monotonic() < deadline:             # the console's polls: marked as background
        polled = jar.get(server.api.base_url + ME, headers={"X-Certplane-Background": "1"}, timeout=30)
        if polled.status_code != 200:
            break
        time.sleep(0.5)
    assert polled.status_code == 401 and error_of(polled)["code"] == "session_idle", polled.text
    assert "without activity" in error_of(polled)["message"]
    again = jar.get(server.api.base_url + ME, timeout=30)            # and it stays ended
    assert again.status_code == 401 and error_of(again)["code"] == "invalid_token"


def test_a_session_in_use_stays_alive_past_the_idle_timeout(server):
    jar, _answer, _ = browser_login(server)
    started = time.monotonic()
    while time.monotonic() - started < IDLE * 2:
        assert jar.get(server.api.base_url + ME, timeout=30).status_code == 200
        time.sleep(0.5)


def test_bearer_sessions_have_no_idle_timeout(server):
    token = server.api.login("admin", server.admin_password)
    time.sleep(IDLE + 1)
    assert server.api.as_token(token)("GET", ME).status_code == 200
