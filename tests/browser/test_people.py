"""The Admins and Persons screens (issue 12) in Chromium: an RAO made with the role grid, its first login and API
key, its suspension ending its session; the CSV import report against the rows; a refusal keeping what was typed;
an RAO's role grid naming only its own organization; a person's edit warning before certificates are revoked."""
from __future__ import annotations

import itertools
import secrets

import pytest

from tests.browser.conftest import go, login, screenshot

_n = itertools.count(1)
HEADER = "email,first_name,middle_name,last_name,department,alternative_emails,validation_type,secret_id"


def unique(prefix: str) -> str:
    return f"{prefix}{next(_n)}{secrets.token_hex(3)}"


def make_org(console, name: str, departments=()) -> dict:
    org = console.api.create_org({"name": name, "address1": "1 Main Street", "city": "Springfield",
                                  "state": "Oregon", "country": "US"})
    # persons' emails are in domains delegated for client certificates
    console.api.delegate_mail_domains(org["organization_id"], ("example.com", "other.example"))
    for department in departments:
        made = console.api("POST", f"/api/v1/organizations/{org['organization_id']}/departments",
                           json={"name": department})
        assert made.status_code == 201, made.text
    return org


def make_admin(console, username: str, roles: list[dict], privileges=()) -> str:
    """An active admin with its first-login change done; returns its password."""
    return console.new_admin(username, roles, privileges)[1]


def settle(page):
    """Let the screen shown after login (the dashboard) finish loading before going elsewhere: a render still
    under way when the hash changes would otherwise paint over the next screen (app.js renders without a
    generation check)."""
    page.locator("main h1").first.wait_for()
    page.wait_for_function("!document.querySelector('main .loading')")
    page.wait_for_timeout(1500)


def mrao_page(open_page, console, **options):
    page = open_page(console, **options)
    login(page, "admin", console.server.admin_password)
    settle(page)
    return page


def test_an_rao_made_with_the_grid_logs_in_makes_an_api_key_and_is_suspended(open_page, console):
    org = make_org(console, unique("Grid Org "), ["Sales"])
    org_id = org["organization_id"]
    username = unique("rao")
    page = mrao_page(open_page, console)
    go(page, "/admins/new")
    form = page.get_by_test_id("admin-form")
    form.get_by_label("Username").fill(username)
    form.get_by_label("Forename").fill("Rita")
    form.get_by_label("Surname").fill("Rao")
    form.get_by_label("Email").fill(f"{username}@example.com")
    form.get_by_label("Telephone").fill("+1 555 0100")
    form.get_by_label("Password", exact=True).fill("first-login-passphrase")
    form.get_by_label("Confirm password").fill("first-login-passphrase")
    page.get_by_test_id(f"grid-{org_id}-ssl").check()
    page.get_by_test_id(f"grid-{org_id}-client").check()
    page.get_by_test_id("privilege-create_peer_admins").check()
    screenshot(page, "people-add-admin")
    form.get_by_role("button", name="Add admin").click()
    page.get_by_test_id("admin-roles").wait_for()
    roles = page.get_by_test_id("admin-roles").inner_text()
    assert f"RAO SSL: {org['name']}" in roles and f"RAO Client: {org['name']}" in roles
    admin_id = page.url.split("/admins/")[1].split("?")[0]
    record = console.api("GET", f"/api/v1/admins/{admin_id}").json()
    assert record["status"] == "active" and record["privileges"] == ["create_peer_admins"]
    assert sorted((r["role"], r["cert_type"], tuple(r["organization_ids"])) for r in record["roles"]) == [
        ("RAO", "client", (org_id,)), ("RAO", "ssl", (org_id,))]

    go(page, "/admins?status=active")
    rows = page.get_by_test_id("admin-rows")
    assert username in rows.inner_text()
    screenshot(page, "people-admins-list")

    # the RAO, in a context of its own: first login, then its own API key
    rao = open_page(console)
    login(rao, username, "first-login-passphrase", expect_home=False)
    password_form = rao.get_by_test_id("password-form")
    password_form.get_by_label("Current password").fill("first-login-passphrase")
    password_form.get_by_label("New password", exact=True).fill("the RAO's own passphrase")
    password_form.get_by_label("Confirm new password").fill("the RAO's own passphrase")
    password_form.get_by_role("button", name="Change password").click()
    rao.get_by_test_id("who").wait_for()
    settle(rao)
    go(rao, "/my-account")
    keys = rao.get_by_test_id("api-key-form")
    keys.get_by_label("Key name").fill("deploy pipeline")
    keys.get_by_role("button", name="Create API key").click()
    secret = rao.get_by_test_id("api-key-issued").get_by_test_id("secret")
    secret.wait_for()
    key = secret.inner_text().strip()
    assert rao.get_by_test_id("api-key-issued").get_by_role("button", name="Copy to clipboard").is_visible()
    rao.get_by_test_id("api-key-rows").get_by_text("deploy pipeline").wait_for()
    assert key[:8] in rao.get_by_test_id("api-key-rows").inner_text()
    screenshot(rao, "people-admin-page-api-key")
    assert console.api.as_token(key)("GET", "/api/v1/auth/me").json()["username"] == username

    # the MRAO suspends it: the RAO's session is refused
    go(page, f"/admins/{admin_id}")
    page.get_by_test_id("admin-suspend").click()
    page.get_by_test_id("confirm").click()
    page.locator(".page-head .badge", has_text="suspended").wait_for()
    screenshot(page, "people-admin-page")
    go(rao, "/admins")
    rao.get_by_test_id("login-form").wait_for()
    assert console.api.as_token(key)("GET", "/api/v1/auth/me").status_code == 401


def test_a_csv_import_shows_the_errors_against_their_rows_and_imports_the_good_one(open_page, console):
    org = make_org(console, unique("Import Org "), ["Engineering"])
    org_id = org["organization_id"]
    good = f"{unique('good')}@example.com"
    text = "\n".join([HEADER,
                      f"{good},Grace,,Good,Engineering,,,",
                      "not-an-email,Bad,,Email,,,,",
                      f"{unique('dept')}@example.com,Dora,,Dept,Marketing,,,"]) + "\n"
    page = mrao_page(open_page, console)
    go(page, f"/persons/import?organization_id={org_id}")
    page.get_by_test_id("import-text").fill(text)
    page.get_by_test_id("import-form").get_by_role("button", name="Import").click()
    rows = page.get_by_test_id("import-rows")
    rows.wait_for()
    assert page.get_by_test_id("import-report").get_by_test_id("correlation-id").inner_text().strip()
    assert "2 row(s) are wrong; nothing was imported" in page.get_by_test_id("import-report").inner_text()
    bad = {int(tr.get_attribute("data-line")): tr.inner_text() for tr in rows.locator("tr.row-bad").all()}
    assert sorted(bad) == [3, 4]
    assert "not-an-email" in bad[3] and "email" in bad[3].lower()
    assert "Marketing" in bad[4] and "no department named 'Marketing'" in bad[4]
    [ok] = rows.locator("tr.row-good").all()
    assert good in ok.inner_text() and ok.get_attribute("data-line") == "2"
    screenshot(page, "people-csv-import-errors")
    assert console.api("GET", "/api/v1/persons", params={"organization_id": org_id}).json()["total"] == 0

    page.get_by_test_id("import-good").click()
    page.get_by_text("1 person(s) imported.").wait_for()
    listed = console.api("GET", "/api/v1/persons", params={"organization_id": org_id}).json()
    assert [p["email"] for p in listed["items"]] == [good]
    assert listed["items"][0]["department_id"] is not None

    go(page, f"/persons?organization_id={org_id}")
    page.get_by_test_id("person-rows").get_by_text(good).wait_for()
    assert "Engineering" in page.get_by_test_id("person-rows").inner_text()
    screenshot(page, "people-persons-list")


def test_a_person_is_added_and_renamed(open_page, console):
    org = make_org(console, unique("Person Org "), ["Research"])
    email = f"{unique('pat')}@example.com"
    page = mrao_page(open_page, console)
    go(page, f"/persons/new?organization_id={org['organization_id']}")
    form = page.get_by_test_id("person-form")
    form.get_by_test_id("person-department").select_option(label="Research")
    form.get_by_label("Email", exact=True).fill(email)
    form.get_by_label("First name").fill("Pat")
    form.get_by_label("Last name").fill("Person")
    form.get_by_label("Alternative emails").fill("pat@other.example")
    form.get_by_label("Secret ID").fill("a secret id")
    screenshot(page, "people-person-form")
    form.get_by_role("button", name="Add person").click()
    edit = page.get_by_test_id("person-edit")
    edit.wait_for()
    assert "revokes their client certificates" in edit.inner_text()
    [person] = console.api("GET", "/api/v1/persons", params={"email": email}).json()["items"]
    assert person["has_secret_id"] and person["alternative_emails"] == ["pat@other.example"]

    # a person without client certificates: renaming revokes nothing, so it saves without a warning
    # (tests/browser/test_escrow_and_accounts.py shows the warning naming the certificates a rename revokes)
    edit.get_by_label("Last name").fill("Renamed")
    edit.get_by_role("button", name="Save").click()
    page.locator("main h1", has_text="Pat Renamed").wait_for()
    screenshot(page, "people-person-renamed")
    assert console.api("GET", f"/api/v1/persons/{person['person_id']}").json()["last_name"] == "Renamed"


def test_a_refusal_shows_the_api_message_and_correlation_id_and_keeps_the_typed_values(open_page, console):
    org = make_org(console, unique("Refusal Org "))
    page = mrao_page(open_page, console)
    go(page, "/admins/new")
    form = page.get_by_test_id("admin-form")
    form.get_by_label("Username").fill("admin")                   # taken: the initial MRAO
    form.get_by_label("Forename").fill("Typed")
    form.get_by_label("Surname").fill("Values")
    form.get_by_label("Email").fill("typed@example.com")
    form.get_by_label("Password", exact=True).fill("a passphrase typed")
    form.get_by_label("Confirm password").fill("a passphrase typed")
    page.get_by_test_id(f"grid-{org['organization_id']}-device").check()
    form.get_by_role("button", name="Add admin").click()
    error = form.get_by_test_id("error")
    error.wait_for()
    assert error.get_by_test_id("correlation-id").inner_text().strip()
    assert "admin" in error.inner_text().lower()
    assert form.get_by_label("Username").input_value() == "admin"
    assert form.get_by_label("Forename").input_value() == "Typed"
    assert form.get_by_label("Email").input_value() == "typed@example.com"
    assert page.get_by_test_id(f"grid-{org['organization_id']}-device").is_checked()
    screenshot(page, "people-add-admin-refused")


def test_an_rao_sees_only_its_own_organization_in_the_role_grid(open_page, console):
    own = make_org(console, unique("Own Org "), ["Ops"])
    other = make_org(console, unique("Other Org "), ["Hidden Dept"])
    username = unique("scoped")
    password = make_admin(console, username, [
        {"role": "RAO", "cert_type": "ssl", "organization_ids": [own["organization_id"]]}])
    page = open_page(console)
    login(page, username, password)
    settle(page)
    go(page, "/admins/new")
    grid = page.get_by_test_id("role-grid")
    grid.wait_for()
    text = page.locator("main").inner_text()
    assert own["name"] in text and "Ops" in text
    assert other["name"] not in text and "Hidden Dept" not in text
    assert page.get_by_test_id(f"grid-{own['organization_id']}-ssl").count() == 1
    assert page.get_by_test_id(f"grid-{own['organization_id']}-client").count() == 0   # a type it lacks
    assert page.get_by_test_id(f"grid-{other['organization_id']}-ssl").count() == 0
    assert page.get_by_test_id("role-mrao").count() == 0
    screenshot(page, "people-add-admin-rao")

    # it makes a DRAO of its department: created, waiting for an MRAO's approval
    drao = unique("drao")
    form = page.get_by_test_id("admin-form")
    form.get_by_label("Username").fill(drao)
    form.get_by_label("Forename").fill("Dee")
    form.get_by_label("Surname").fill("Rao")
    form.get_by_label("Email").fill(f"{drao}@example.com")
    form.get_by_label("Password", exact=True).fill("drao first passphrase")
    form.get_by_label("Confirm password").fill("drao first passphrase")
    ops = console.api("GET", f"/api/v1/organizations/{own['organization_id']}/departments").json()["items"][0]
    page.get_by_test_id(f"grid-{ops['department_id']}-ssl").check()
    form.get_by_role("button", name="Add admin").click()
    page.locator(".page-head .badge", has_text="pending approval").wait_for()
    assert page.get_by_test_id("admin-approve").count() == 0        # only an MRAO approves
    admin_id = page.url.split("/admins/")[1].split("?")[0]

    mrao = mrao_page(open_page, console)
    go(mrao, f"/admins/{admin_id}")
    mrao.get_by_test_id("admin-approve").click()
    mrao.locator(".page-head .badge", has_text="active").wait_for()
    assert console.api("GET", f"/api/v1/admins/{admin_id}").json()["status"] == "active"


@pytest.mark.parametrize("width", [390])
def test_the_people_screens_fit_a_phone(open_page, console, width):
    make_org(console, unique("Phone Org "), ["Field"])
    page = mrao_page(open_page, console, viewport={"width": width, "height": 800})
    for fragment, name in (("/admins", "people-admins-list-phone"), ("/admins/new", "people-add-admin-phone"),
                           ("/persons", "people-persons-list-phone"),
                           ("/persons/import", "people-csv-import-phone")):
        go(page, fragment)
        assert page.evaluate("document.documentElement.scrollWidth") <= width + 1, fragment
        screenshot(page, name)
