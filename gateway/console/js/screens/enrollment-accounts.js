// Enrollment form accounts and device enrollment endpoints (issue 15; SCM-REFERENCE "Enrollment form account",
// "Device enrollment endpoint"). Accounts: the list (#/enrollment-accounts?cert_type=…), Create
// (#/enrollment-accounts/new) and an account's page (#/enrollment-accounts/<id>) with its form URL
// (/forms/<ssl|client|device|cscert>?account=<id>), Edit (a new access code too), Disable / Enable and Delete.
// Endpoints: the same for #/device-endpoints, with the URI extension (typed, "Generate"d here, or left for the
// server to generate) and the form URL the server answers. An endpoint is a web form, an SCEP server or an EST
// server (issue 16): an scep/est endpoint's page has its URL, its credential (Rotate credential: the new one shown
// once), one-time challenges for single devices (each shown once; then listed as issued / used / expired) and, for
// every type, the device certificates issued through it (links to #/device/<id>). The access code is write-only:
// no answer shows it (`has_access_code`). Who sees them: MRAOs, and admins with a role of the certificate type there (the server
// decides and answers 404 outside the caller's scope).
// /…/new is registered before /…/:id so that it is matched first.
import { api } from "../api.js";
import { navigate, screen } from "../router.js";
import { actionButton, badge, clear, copyButton, definitionList, field, fmtDate, form, h, link, notice, pager,
         section, table, uid } from "../ui.js";
import { CERT_TYPES, certTypes, departmentIds, isMrao, organizationIds } from "../session.js";
import { Directory } from "./ssl-parts.js";

const PAGE = 25;
const ACCOUNTS = "/api/v1/enrollment-accounts";
const ENDPOINTS = "/api/v1/device-endpoints";
const TYPE_WORDS = Object.fromEntries(CERT_TYPES);
// the public form's path per type (gateway/api_public_forms.py: /forms/<ssl|client|device|cscert>)
const FORM_PATH = { ssl: "ssl", client: "client", device: "device", code_signing: "cscert" };
const CSR_WORDS = { browser: "Generated in the applicant's browser", provided: "Provided by the applicant (a CSR)" };
const HELP_TEXT_MAX = 2048;          // contracts/enrollment_forms.py HELP_TEXT_MAX
const URI_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789";
const GENERATED_LENGTH = 16;
const WORDS = {
  uri_extension_taken: "Another endpoint has this URI extension: choose another or generate one.",
};

let flash = null;        // {id, text, kind}: said once after an action that re-rendered the page

function explained(error) {
  const words = WORDS[error.code];
  if (words && !String(error.message).includes(words)) error.message = `${error.message} — ${words}`;
  return error;
}

const accountsVisible = (me) => isMrao(me) || certTypes(me).length > 0;
const endpointsVisible = (me) => isMrao(me) || certTypes(me).includes("device");

export function accountFormUrl(account) {
  return `${window.location.origin}/forms/${FORM_PATH[account.cert_type]}?account=${account.form_account_id}`;
}

function urlCell(url, testid) {
  return h("span", { class: "form-url" }, h("code", { class: "mono", "data-testid": testid }, url), " ",
           copyButton(url, "Copy"));
}

// The organizations (with the departments allowed) this admin may make accounts or endpoints of `certType` for.
async function placesFor(me, directory, certType) {
  const mrao = isMrao(me);
  const orgs = new Set(organizationIds(me, certType));
  const depts = new Set(departmentIds(me, certType));
  const out = [];
  for (const org of directory.sortedOrganizations()) {
    const whole = mrao || orgs.has(org.organization_id);
    if (!whole && depts.size === 0) continue;
    const departments = await directory.departmentsOf(org.organization_id);
    const allowed = whole ? departments : departments.filter((d) => depts.has(d.department_id));
    if (whole || allowed.length) out.push({ organization: org, departments: allowed, whole });
  }
  return out;
}

function departmentOptions(place) {
  if (!place) return [["", "None"]];
  const options = place.departments.map((d) => [d.department_id, d.name]);
  return place.whole ? [["", "None (the whole organization)"], ...options] : options;
}

// A place picker: organization and its department (the department list follows the organization).
function placeFields(places, testPrefix) {
  const org = field({ name: "organization_id", label: "Organization", type: "select", required: true,
                      testid: `${testPrefix}-organization`,
                      value: places.length === 1 ? places[0].organization.organization_id : "",
                      options: [["", "Choose…"], ...places.map((p) => [p.organization.organization_id, p.organization.name])] });
  const first = places.length === 1 ? places[0] : null;
  const dept = field({ name: "department_id", label: "Department", type: "select", testid: `${testPrefix}-department`,
                       options: departmentOptions(first) });
  const orgSelect = org.querySelector("select");
  const deptSelect = dept.querySelector("select");
  orgSelect.addEventListener("change", () => {
    const place = places.find((p) => p.organization.organization_id === orgSelect.value);
    clear(deptSelect, departmentOptions(place).map(([v, t]) => h("option", { value: v }, t)));
  });
  return h("div", { class: "row" }, org, dept);
}

// Checkboxes of a group (valuesOf gives the checked values as a list)
function checkGroup({ name, legend, items, checked = [], testid, help }) {
  const chosen = new Set(checked);
  return h("fieldset", { class: "check-group", "data-testid": testid }, h("legend", {}, legend),
    items.length ? items.map(([value, text]) => {
      const id = uid(name);
      return h("div", { class: "field checkbox" },
        h("input", { type: "checkbox", id, name, value, "data-group": "1", checked: chosen.has(value) }),
        h("label", { for: id }, text));
    }) : h("p", { class: "muted" }, "None to choose from."),
    help ? h("p", { class: "help" }, help) : null);
}

function profileItems(directory, certType) {
  return [...directory.profiles.values()].filter((p) => p.cert_type === certType)
    .sort((a, b) => a.name.localeCompare(b.name)).map((p) => [p.profile_id, p.name]);
}

function profileNames(directory, ids) {
  return ids.map((id) => (directory.profiles.get(id) || { name: "(profile not visible to you)" }).name).join(", ");
}

function placeOf(directory, item) {
  return directory.placeOf(item);
}

function accessCodeFields(required) {
  return h("div", { class: "row" },
    field({ name: "access_code", label: required ? "Access code" : "New access code (empty: unchanged)",
            type: "password", required, autocomplete: "new-password", testid: "account-access-code", maxlength: 128,
            help: "8 to 128 characters; applicants type it with their email. Never shown again." }),
    field({ name: "access_code_confirm", label: "Access code again", type: "password", required,
           autocomplete: "new-password", testid: "account-access-code-confirm", maxlength: 128 }));
}

function checkAccessCode(values) {
  if ((values.access_code || "") !== (values.access_code_confirm || "")) {
    throw { message: "the access code and its confirmation differ", details: { access_code_confirm: ["differs"] } };
  }
}

// The settings both create and edit send (the access code only when typed).
function accountSettings(values, certType) {
  const body = {
    name: values.name,
    profile_ids: values.profile_ids || [],
    csr_generation: values.csr_generation || [],
    auto_approve: Boolean(values.auto_approve),
    auto_renew: Boolean(values.auto_renew),
    allow_empty_pkcs12_password: certType === "client" ? Boolean(values.allow_empty_pkcs12_password) : false,
  };
  if (values.access_code) body.access_code = values.access_code;
  return body;
}

function optionFields(account, certType) {
  return [
    checkGroup({ name: "csr_generation", legend: "CSR generation", testid: "account-csr-generation",
                 items: Object.entries(CSR_WORDS), checked: account ? account.csr_generation : ["browser", "provided"] }),
    field({ name: "auto_approve", label: "Approve requests automatically", type: "checkbox",
            value: account ? account.auto_approve : false, testid: "account-auto-approve" }),
    field({ name: "auto_renew", label: "Allow auto-renew", type: "checkbox", value: account ? account.auto_renew : false,
            testid: "account-auto-renew" }),
    h("div", { class: "client-only", hidden: certType !== "client" },
      field({ name: "allow_empty_pkcs12_password", label: "Allow an empty PKCS#12 password", type: "checkbox",
              value: account ? account.allow_empty_pkcs12_password : false, testid: "account-empty-pkcs12",
              help: "client certificates only" })),
  ];
}

// ---- enrollment accounts: the list ------------------------------------------------------------------------------
screen({
  path: "/enrollment-accounts",
  title: "Enrollment accounts",
  nav: { label: "Enrollment accounts", order: 56, visible: accountsVisible },
  async render(ctx) {
    const position = Number(ctx.query.position || 0);
    const certType = ctx.query.cert_type || "";
    const [found, directory] = await Promise.all([
      api("GET", ACCOUNTS, { query: { cert_type: certType, position, size: PAGE } }), Directory.load()]);
    await directory.loadDepartments(found.items.map((a) => a.organization_id));
    const types = CERT_TYPES.filter(([t]) => certTypes(ctx.me).includes(t));
    const filters = form({
      testid: "account-filters",
      submitLabel: "Filter",
      fields: [field({ name: "cert_type", label: "Type", type: "select", value: certType,
                       options: [["", "Any"], ...types] })],
      onSubmit: async (values) => navigate("/enrollment-accounts", values),
    });
    clear(ctx.main,
      h("div", { class: "page-head" }, h("h1", {}, "Enrollment accounts"),
        link("#/enrollment-accounts/new", "Create enrollment account",
             { class: "button primary", "data-testid": "account-create" })),
      h("p", { class: "muted" }, "An account opens a public self-enrollment form for one certificate type and one ",
        "organization (or department): applicants give its access code and an email in a domain delegated to it."),
      filters,
      h("p", { class: "muted", "data-testid": "account-total" }, `${found.total} account${found.total === 1 ? "" : "s"}.`),
      table({
        testid: "account-rows",
        caption: "Enrollment accounts",
        columns: [
          { label: "Name", value: (a) => link(`#/enrollment-accounts/${a.form_account_id}`, a.name,
                                              { "data-testid": "account-row-link" }) },
          { label: "Type", value: (a) => TYPE_WORDS[a.cert_type] || a.cert_type },
          { label: "Organization / department", value: (a) => placeOf(directory, a) },
          { label: "Status", value: (a) => badge(a.locked_until ? "locked" : a.status) },
          { label: "Form URL", value: (a) => urlCell(accountFormUrl(a), "account-row-url") },
          { label: "Created", value: (a) => fmtDate(a.created_at) },
        ],
        rows: found.items,
        empty: certType ? "No enrollment account of this type." : "No enrollment accounts yet.",
      }),
      pager({ total: found.total, position, size: PAGE,
              onChange: (p) => navigate("/enrollment-accounts", { ...ctx.query, position: p }) }));
  },
});

// ---- enrollment accounts: create --------------------------------------------------------------------------------
screen({
  path: "/enrollment-accounts/new",
  title: "Create enrollment account",
  async render(ctx) {
    const directory = await Directory.load();
    const types = CERT_TYPES.filter(([t]) => certTypes(ctx.me).includes(t));
    let certType = ctx.query.cert_type && types.some(([t]) => t === ctx.query.cert_type) ? ctx.query.cert_type
      : types.length ? types[0][0] : "";
    const places = await placesFor(ctx.me, directory, certType);
    const profilesHolder = h("div");
    const drawProfiles = () => clear(profilesHolder, checkGroup({
      name: "profile_ids", legend: "Profiles the form offers", testid: "account-profiles",
      items: profileItems(directory, certType), help: "of the account's type; the first checked is the default" }));
    drawProfiles();
    const typeField = field({ name: "cert_type", label: "Certificate type", type: "select", required: true,
                              value: certType, options: types, testid: "account-type",
                              help: "fixed once created, as are the organization and department" });
    const element = form({
      testid: "account-form",
      submitLabel: "Create account",
      fields: [
        field({ name: "name", label: "Name", required: true, maxlength: 128, testid: "account-name",
                placeholder: "e.g. Sales S/MIME self-enrollment" }),
        typeField,
        h("div", { "data-testid": "account-place" }, placeFields(places, "account")),
        profilesHolder,
        ...optionFields(null, certType),
        accessCodeFields(true),
      ],
      secondary: [link("#/enrollment-accounts", "Cancel", { class: "button" })],
      onSubmit: async (values) => {
        checkAccessCode(values);
        const body = { cert_type: values.cert_type, organization_id: values.organization_id,
                       department_id: values.department_id || null, ...accountSettings(values, values.cert_type) };
        const made = await api("POST", ACCOUNTS, { json: body });
        flash = { id: made.form_account_id, kind: "success",
                  text: "Account created. Give applicants its form URL and, separately, the access code." };
        navigate(`/enrollment-accounts/${made.form_account_id}`);
      },
    });
    // another type: its profiles, its organizations, and the client-only option
    typeField.querySelector("select").addEventListener("change", async (event) => {
      certType = event.target.value;
      drawProfiles();
      element.querySelector(".client-only").hidden = certType !== "client";
      const again = await placesFor(ctx.me, directory, certType);
      const holder = element.querySelector("[data-testid=account-place]");
      const chosen = { org: holder.querySelector("select[name=organization_id]").value,
                       dept: holder.querySelector("select[name=department_id]").value };
      const fresh = placeFields(again, "account");
      holder.replaceChildren(fresh);
      // what was chosen stays when the new type allows it
      const orgSelect = fresh.querySelector("select[name=organization_id]");
      if (again.some((p) => p.organization.organization_id === chosen.org)) {
        orgSelect.value = chosen.org;
        orgSelect.dispatchEvent(new Event("change"));
        const deptSelect = fresh.querySelector("select[name=department_id]");
        if ([...deptSelect.options].some((o) => o.value === chosen.dept)) deptSelect.value = chosen.dept;
      }
    });
    clear(ctx.main, h("h1", {}, "Create enrollment account"),
      places.length ? null : notice("You manage no organization for this type.", "warning"),
      section(null, element));
  },
});

// ---- enrollment accounts: one --------------------------------------------------------------------------------
screen({
  path: "/enrollment-accounts/:id",
  title: "Enrollment account",
  async render(ctx) {
    const id = ctx.params.id;
    const [account, directory] = await Promise.all([api("GET", `${ACCOUNTS}/${id}`), Directory.load()]);
    await directory.loadDepartments([account.organization_id]);
    const url = accountFormUrl(account);
    const disabled = account.status === "disabled";
    const parts = [
      h("div", { class: "page-head" }, h("h1", {}, account.name),
        h("span", { "data-testid": "account-status" }, badge(account.status))),
      h("p", {}, link("#/enrollment-accounts", "← Enrollment accounts")),
    ];
    if (flash && flash.id === id) parts.push(notice(flash.text, flash.kind));
    flash = null;
    if (account.locked_until) {
      parts.push(notice(`Locked after too many wrong access codes until ${fmtDate(account.locked_until)}; a new ` +
                        "access code ends the lockout.", "warning"));
    }
    parts.push(section("Form URL", h("p", {}, "Applicants open this address and give the access code:"),
                       h("p", {}, urlCell(url, "account-form-url")),
                       disabled ? notice("The account is disabled: its form accepts no applicants.", "warning") : null));
    parts.push(section("Account", definitionList([
      ["Type", TYPE_WORDS[account.cert_type] || account.cert_type],
      ["Organization / department", placeOf(directory, account)],
      ["Profiles", profileNames(directory, account.profile_ids)],
      ["CSR generation", account.csr_generation.map((m) => CSR_WORDS[m] || m).join("; ")],
      ["Approve automatically", account.auto_approve ? "yes" : "no"],
      ["Auto-renew", account.auto_renew ? "yes" : "no"],
      ["Empty PKCS#12 password", account.cert_type === "client" ? (account.allow_empty_pkcs12_password ? "allowed" : "no") : null],
      ["Access code", account.has_access_code ? `set${account.access_code_changed_at
        ? ` (changed ${fmtDate(account.access_code_changed_at)})` : ""} — never shown` : "none"],
      ["Created", fmtDate(account.created_at)], ["Changed", fmtDate(account.updated_at)],
    ])));
    const profiles = profileItems(directory, account.cert_type);
    parts.push(section("Edit", form({
      testid: "account-edit",
      fields: [
        field({ name: "name", label: "Name", required: true, maxlength: 128, value: account.name, testid: "account-name" }),
        checkGroup({ name: "profile_ids", legend: "Profiles the form offers", testid: "account-profiles",
                     items: profiles, checked: account.profile_ids }),
        ...optionFields(account, account.cert_type),
        accessCodeFields(false),
      ],
      onSubmit: async (values) => {
        checkAccessCode(values);
        await api("PATCH", `${ACCOUNTS}/${id}`, { json: accountSettings(values, account.cert_type) });
        flash = { id, kind: "success", text: "Saved." };
        ctx.refresh();
      },
    })));
    parts.push(section("Disable or delete", h("div", { class: "actions" },
      actionButton(disabled ? "Enable" : "Disable", async () => {
        await api("PATCH", `${ACCOUNTS}/${id}`, { json: { status: disabled ? "active" : "disabled" } });
        flash = { id, kind: "success", text: disabled ? "Enabled." : "Disabled: the form accepts no applicants." };
        ctx.refresh();
      }, { testid: "account-toggle" }),
      actionButton("Delete account", async () => {
        await api("DELETE", `${ACCOUNTS}/${id}`);
        navigate("/enrollment-accounts");
      }, { kind: "danger", testid: "account-delete",
           confirm: `Delete the enrollment account ${account.name}? Its form stops accepting applicants.` }))));
    clear(ctx.main, ...parts);
  },
});

// ---- device endpoints ----------------------------------------------------------------------------------------
// The three types (contracts/enrollment_forms.py ENDPOINT_TYPES): a web form, an SCEP server (RFC 8894) or an EST
// server (RFC 7030). An scep or est endpoint's credential (the SCEP challenge password; the EST Basic username and
// password) is made by the server and answered once — after Create and after Rotate credential — and a one-time
// challenge once when issued: each is shown in a panel with a copy button and never again (a reload shows when it
// was set, not it).
const ENDPOINT_TYPES = [["web_form", "Web form"], ["scep", "SCEP (RFC 8894)"], ["est", "EST (RFC 7030)"]];
const ENDPOINT_TYPE_WORDS = { web_form: "web form", scep: "SCEP", est: "EST" };
const CHALLENGE_HOURS_DEFAULT = 24;
const CHALLENGE_HOURS_MAX = 720;     // contracts/enrollment_forms.py CHALLENGE_HOURS_MAX
const DEVICE_CERTS = "/api/v1/device";
const CERTS_PAGE = 25;
const isProtocol = (endpoint) => endpoint.type === "scep" || endpoint.type === "est";
const typeWords = (type) => ENDPOINT_TYPE_WORDS[type] || String(type).replace("_", " ");

export function generatedExtension() {
  const bytes = new Uint8Array(GENERATED_LENGTH);
  crypto.getRandomValues(bytes);
  return [...bytes].map((b) => URI_ALPHABET[b % URI_ALPHABET.length]).join("");
}

// The address devices (or applicants) use: the form URL, the SCEP URL, or the EST base URL (null while the
// server's EST listener is off).
export function endpointUrl(endpoint) {
  if (endpoint.type === "scep") return endpoint.scep_url;
  if (endpoint.type === "est") return endpoint.est_url;
  return endpoint.form_url;
}

function endpointUrlCell(endpoint, testid) {
  const url = endpointUrl(endpoint);
  return url ? urlCell(url, testid)
    : h("span", { class: "muted", "data-testid": testid }, "none while the EST listener is off");
}

function helpTextField(value) {
  const holder = field({ name: "help_text", label: "Help text", type: "textarea", rows: 4, value,
                         testid: "endpoint-help-text", help: "shown on the form" });
  const area = holder.querySelector("textarea");
  area.maxLength = HELP_TEXT_MAX;
  const counter = h("p", { class: "help counter", "aria-live": "polite", "data-testid": "endpoint-help-count" });
  const count = () => {
    counter.textContent = `${area.value.length} / ${HELP_TEXT_MAX} characters`;
    counter.classList.toggle("over", area.value.length > HELP_TEXT_MAX);
  };
  area.addEventListener("input", count);
  count();
  holder.append(counter);
  return holder;
}

// The help texts are what a web form shows: an scep or est endpoint has no page to show them on.
function helpFields(endpoint) {
  const holder = h("div", { class: "form-help-texts" },
    field({ name: "help_link_text", label: "Help link text", maxlength: 128, value: endpoint ? endpoint.help_link_text : "",
            testid: "endpoint-help-link" }),
    helpTextField(endpoint ? endpoint.help_text || "" : ""));
  return holder;
}

function showHelpFields(holder, shown) {
  holder.hidden = !shown;
  for (const control of holder.querySelectorAll("input, textarea")) control.disabled = !shown;
}

function endpointSettings(values) {
  return { name: values.name, profile_ids: values.profile_ids || [],
           help_link_text: values.help_link_text || null, help_text: values.help_text || null };
}

// `scepclient …` ready to paste (Debian's scepclient, micromdm's): each value quoted for a POSIX shell where needed
export function scepclientCommand(scepUrl, challenge) {
  return ["scepclient", `-server-url=${shellWord(scepUrl)}`, `-challenge=${shellWord(challenge)}`,
          "-private-key=device.key", "-cn=device.example.com"].join(" ");
}

function shellWord(text) {
  return /^[A-Za-z0-9._:/@=+-]+$/.test(text) ? text : `'${String(text).replaceAll("'", "'\\''")}'`;
}

function copyFact(term, value, testid, copyLabel) {
  return [h("dt", {}, term),
          h("dd", { class: "copy-row" }, h("code", { class: "mono", "data-testid": testid }, value),
            copyButton(value, copyLabel))];
}

// The endpoint's URL and its credential, shown this once (after Create, and after Rotate credential).
function credentialsPanel(endpoint, { title, after = null }) {
  const headingId = uid("endpoint-credentials");
  const credentials = endpoint.credentials || {};
  const url = endpointUrl(endpoint);
  const scep = endpoint.type === "scep";
  const facts = [
    url ? copyFact(scep ? "SCEP URL" : "EST URL", url, "endpoint-credentials-url", "Copy URL")
      : [h("dt", {}, "EST URL"), h("dd", { "data-testid": "endpoint-credentials-url" },
          "none yet: the server's EST listener is off (setting est_port)")],
  ];
  if (scep) {
    facts.push(copyFact("Challenge password", credentials.challenge_password, "endpoint-challenge-password",
                        "Copy challenge password"));
  } else {
    facts.push(copyFact("Username", credentials.username, "endpoint-est-username", "Copy username"),
               copyFact("Password", credentials.password, "endpoint-est-password", "Copy password"));
  }
  return h("section", { class: "card secret-once endpoint-credentials", role: "region", "aria-labelledby": headingId,
                        "data-testid": "endpoint-credentials" },
    h("h2", { id: headingId, tabindex: "-1" }, title),
    h("div", { class: "alert warning", role: "alert", "data-testid": "endpoint-once-warning" },
      h("strong", {}, `The ${scep ? "challenge password" : "password"} is shown once. `),
      "Certplane keeps only a hash of it and can never show it again: copy it now to where the devices are ",
      "set up. If it is lost, rotate the credential (the old one stops working)."),
    h("dl", { class: "facts" }, facts),
    scep && url ? [h("h3", {}, "scepclient"),
      h("div", { class: "copy-row endpoint-command-row" },
        h("pre", { class: "endpoint-pre" }, h("code", { class: "mono", "data-testid": "endpoint-scepclient" },
          scepclientCommand(url, credentials.challenge_password))),
        copyButton(scepclientCommand(url, credentials.challenge_password), "Copy command")),
      h("p", { class: "help" }, "-cn: the device's name (a name delegated to the organization, or one that is not a ",
        "DNS name). When the issuing CA's key is not RSA, scepclient also needs ", h("code", {}, "-ca-fingerprint"),
        ": the SHA-256 of the RA certificate, the one GetCACert answers that is not a CA.")]
      : !scep ? h("p", { class: "help" }, "EST clients send them as HTTP Basic credentials over TLS, e.g. to ",
                  h("code", {}, "simpleenroll"), " under the EST URL.") : null,
    after);
}

screen({
  path: "/device-endpoints",
  title: "Device endpoints",
  nav: { label: "Device endpoints", order: 57, visible: endpointsVisible },
  async render(ctx) {
    const position = Number(ctx.query.position || 0);
    const [found, directory] = await Promise.all([
      api("GET", ENDPOINTS, { query: { position, size: PAGE } }), Directory.load()]);
    await directory.loadDepartments(found.items.map((e) => e.organization_id));
    clear(ctx.main,
      h("div", { class: "page-head" }, h("h1", {}, "Device endpoints"),
        link("#/device-endpoints/new", "Create device endpoint",
             { class: "button primary", "data-testid": "endpoint-create" })),
      h("p", { class: "muted" }, "A device enrollment endpoint is where devices (and their administrators) request ",
        "device certificates for one organization or department: a web form, an SCEP server or an EST server."),
      h("p", { class: "muted", "data-testid": "endpoint-total" }, `${found.total} endpoint${found.total === 1 ? "" : "s"}.`),
      table({
        testid: "endpoint-rows",
        caption: "Device endpoints",
        columns: [
          { label: "Name", value: (e) => link(`#/device-endpoints/${e.endpoint_id}`, e.name,
                                              { "data-testid": "endpoint-row-link" }) },
          { label: "Type", value: (e) => h("span", { "data-testid": "endpoint-row-type" }, typeWords(e.type)) },
          { label: "Organization / department", value: (e) => placeOf(directory, e) },
          { label: "Status", value: (e) => badge(e.status) },
          { label: "URL", value: (e) => endpointUrlCell(e, "endpoint-row-url") },
          { label: "Created", value: (e) => fmtDate(e.created_at) },
        ],
        rows: found.items,
        empty: "No device endpoints yet.",
      }),
      pager({ total: found.total, position, size: PAGE,
              onChange: (p) => navigate("/device-endpoints", { position: p }) }));
  },
});

screen({
  path: "/device-endpoints/new",
  title: "Create device endpoint",
  async render(ctx) {
    const directory = await Directory.load();
    const places = await placesFor(ctx.me, directory, "device");
    const typeField = field({ name: "type", label: "Type", type: "select", required: true, value: "web_form",
                              options: ENDPOINT_TYPES, testid: "endpoint-type",
                              help: "how devices enroll; fixed once created. SCEP and EST endpoints get a credential, " +
                                    "shown once." });
    const typeSelect = typeField.querySelector("select");
    const extension = field({ name: "uri_extension", label: "URI extension", maxlength: 64, testid: "endpoint-uri",
                              autocomplete: "off", placeholder: "e.g. printers-berlin",
                              help: "3 to 64 of a-z, 0-9 and -; fixed once created. Empty: generated." });
    const input = extension.querySelector("input");
    input.pattern = "[a-z0-9\\-]{3,64}";
    const generate = h("button", { type: "button", "data-testid": "endpoint-generate",
                                   onclick: () => { input.value = generatedExtension(); input.dispatchEvent(new Event("input")); } },
                       "Generate");
    const previewLabel = h("span", {});
    const preview = h("code", { class: "mono", "data-testid": "endpoint-url-preview" });
    const showPreview = () => {
      const part = input.value || "…";
      const type = typeSelect.value;
      previewLabel.textContent = type === "scep" ? "SCEP URL: " : type === "est" ? "EST URL: " : "Form URL: ";
      preview.textContent = type === "scep" ? `${window.location.origin}/scep/${part}`
        : type === "est" ? `https://<EST listener>/.well-known/est/${part}/`
        : `${window.location.origin}/forms/device/${part}`;
    };
    const helps = helpFields(null);
    input.addEventListener("input", showPreview);
    typeSelect.addEventListener("change", () => { showPreview(); showHelpFields(helps, typeSelect.value === "web_form"); });
    showPreview();
    const element = form({
      testid: "endpoint-form",
      submitLabel: "Create endpoint",
      fields: [
        field({ name: "name", label: "Name", required: true, maxlength: 128, testid: "endpoint-name" }),
        typeField,
        placeFields(places, "endpoint"),
        checkGroup({ name: "profile_ids", legend: "Device profiles", testid: "endpoint-profiles",
                     items: profileItems(directory, "device"), help: "the first checked is the default" }),
        h("div", { class: "uri-row" }, extension, generate),
        h("p", { class: "help" }, previewLabel, preview),
        helps,
      ],
      secondary: [link("#/device-endpoints", "Cancel", { class: "button" })],
      onSubmit: async (values) => {
        const type = values.type || "web_form";
        const body = { type, organization_id: values.organization_id,
                       department_id: values.department_id || null, ...endpointSettings(values) };
        if (values.uri_extension) body.uri_extension = values.uri_extension.trim();
        else body.generate = true;
        let made;
        try {
          made = await api("POST", ENDPOINTS, { json: body });
        } catch (error) {
          throw explained(error);
        }
        if (!made.credentials) {
          flash = { id: made.endpoint_id, kind: "success", text: "Endpoint created. Give applicants its form URL." };
          navigate(`/device-endpoints/${made.endpoint_id}`);
          return;
        }
        clear(ctx.main,
          h("div", { class: "page-head" }, h("h1", {}, `${typeWords(made.type)} endpoint ${made.name}`), badge(made.status)),
          credentialsPanel(made, {
            title: `${typeWords(made.type)} endpoint created: its URL and credential`,
            after: h("div", { class: "actions" },
              link(`#/device-endpoints/${made.endpoint_id}`, "I stored it — open the endpoint",
                   { class: "button primary", "data-testid": "endpoint-stored" })),
          }));
        ctx.main.querySelector("[data-testid=endpoint-credentials] h2").focus();
      },
    });
    clear(ctx.main, h("h1", {}, "Create device endpoint"),
      places.length ? null : notice("You manage device certificates of no organization.", "warning"),
      section(null, element));
  },
});

// ---- an endpoint's page: one-time challenges and the certificates it issued ----------------------------------
async function usernameOf(adminId, me, known) {
  if (!adminId) return "—";
  if (adminId === me.admin_id) return me.username;
  if (!known.has(adminId)) {
    known.set(adminId, api("GET", `/api/v1/admins/${adminId}`).then((a) => a.username)
      .catch(() => "another administrator"));
  }
  return known.get(adminId);
}

function challengePanel(endpoint, issued) {
  const scep = endpoint.type === "scep";
  return h("div", { class: "secret-once challenge-once", role: "status", "data-testid": "challenge-once" },
    h("p", {}, h("strong", {}, `One-time challenge${issued.device_name ? ` for ${issued.device_name}` : ""}`),
      " — shown once; Certplane can never show it again."),
    h("div", { class: "copy-row" }, h("code", { class: "mono", "data-testid": "challenge-secret" }, issued.challenge),
      copyButton(issued.challenge, "Copy challenge")),
    h("p", { class: "help" }, scep ? "The device sends it as its SCEP challenge password"
      : "The device sends it as its EST HTTP Basic password (any username)",
      `; it works once, until ${fmtDate(issued.expires_at)}.`));
}

async function challengesTable(endpoint, me, known) {
  const found = await api("GET", `${ENDPOINTS}/${endpoint.endpoint_id}/challenges`);
  const issuers = new Map(await Promise.all(found.items.map(async (c) => [c.issued_by,
                                                                          await usernameOf(c.issued_by, me, known)])));
  return table({
    testid: "challenge-rows",
    caption: "One-time challenges",
    columns: [
      { label: "Device", value: (c) => c.device_name || "—" },
      { label: "Status", value: (c) => h("span", { "data-testid": "challenge-row-status" }, badge(c.status)) },
      { label: "Expires", value: (c) => fmtDate(c.expires_at) },
      { label: "Issued", value: (c) => fmtDate(c.issued_at) },
      { label: "Issued by", value: (c) => issuers.get(c.issued_by) },
      { label: "Used", value: (c) => (c.used_at
        ? `${fmtDate(c.used_at)}${c.used_via ? ` (${typeWords(c.used_via)})` : ""}` : "—") },
      { label: "Certificate", value: (c) => (c.cert_id ? link(`#/device/${c.cert_id}`, String(c.cert_id).slice(0, 8),
                                                               { class: "mono" }) : "—") },
    ],
    rows: found.items,
    empty: "No one-time challenges issued yet.",
  });
}

function challengesSection(endpoint, me) {
  const known = new Map();
  const slot = h("div", { "aria-live": "polite" });
  const list = h("div", { "data-testid": "challenge-list" });
  const reload = async () => clear(list, await challengesTable(endpoint, me, known));
  const element = form({
    testid: "challenge-form",
    submitLabel: "Issue one-time challenge",
    fields: [h("div", { class: "row" },
      field({ name: "device_name", label: "Device name (optional)", maxlength: 128, testid: "challenge-device",
              autocomplete: "off", help: "who it is for: shown in the list below" }),
      field({ name: "valid_hours", label: "Valid for (hours)", type: "number", min: 1, max: CHALLENGE_HOURS_MAX,
              value: CHALLENGE_HOURS_DEFAULT, required: true, testid: "challenge-hours",
              help: `1 to ${CHALLENGE_HOURS_MAX}` }))],
    onSubmit: async (values, formElement) => {
      const body = { valid_hours: Number(values.valid_hours) };
      if (values.device_name && values.device_name.trim()) body.device_name = values.device_name.trim();
      const issued = await api("POST", `${ENDPOINTS}/${endpoint.endpoint_id}/challenges`, { json: body });
      clear(slot, challengePanel(endpoint, issued));
      formElement.querySelector("input[name=device_name]").value = "";       // the next device; the hours stay
      await reload();
      return "Issued.";
    },
  });
  const holder = section("One-time challenges",
    h("p", { class: "muted" }, "A one-time challenge lets one device enroll once, in place of the endpoint's ",
      endpoint.type === "scep" ? "challenge password" : "password", ": give it to that device only."),
    element, slot, list);
  holder.dataset.testid = "challenge-section";
  return { element: holder, reload };
}

async function certificatesSection(endpoint, position, ctx) {
  const found = await api("GET", DEVICE_CERTS, { query: { endpoint_id: endpoint.endpoint_id, position,
                                                          size: CERTS_PAGE } });
  const holder = section(`Certificates issued through this endpoint`,
    h("p", { class: "muted", "data-testid": "endpoint-cert-total" },
      `${found.total} device certificate${found.total === 1 ? "" : "s"}.`),
    table({
      testid: "endpoint-cert-rows",
      caption: "Device certificates of this endpoint",
      columns: [
        { label: "Status", value: (c) => h("span", { "data-testid": "endpoint-cert-status" }, badge(c.status)) },
        { label: "Common name", value: (c) => link(`#/device/${c.cert_id}`,
                                                   c.common_name || `order ${String(c.cert_id).slice(0, 8)}`,
                                                   { "data-testid": "endpoint-cert-link" }) },
        { label: "Serial", value: (c) => (c.serial ? h("code", { class: "ssl-serial" }, c.serial) : "—") },
        { label: "Requested via", value: (c) => typeWords(c.requested_via || "") || "—" },
        { label: "Expires", value: (c) => fmtDate(c.not_after) || "—" },
        { label: "Requested", value: (c) => fmtDate(c.requested_at || c.created_at) },
      ],
      rows: found.items,
      empty: "No certificate came through this endpoint yet.",
    }),
    found.total > CERTS_PAGE ? pager({ total: found.total, position, size: CERTS_PAGE,
      onChange: (p) => navigate(`/device-endpoints/${endpoint.endpoint_id}`, { ...ctx.query, position: p }) }) : null);
  holder.dataset.testid = "endpoint-certificates";
  return holder;
}

function credentialSection(endpoint, ctx) {
  const scep = endpoint.type === "scep";
  const slot = h("div", { "aria-live": "polite" });
  const facts = scep
    ? [["Challenge password", h("span", { class: "muted", "data-testid": "endpoint-credential-state" },
        `set ${fmtDate(endpoint.credential_set_at)} — shown once, when made; never again`)]]
    : [["Username", h("span", { class: "copy-row" }, h("code", { class: "mono" }, endpoint.uri_extension),
                      copyButton(endpoint.uri_extension, "Copy username"))],
       ["Password", h("span", { class: "muted", "data-testid": "endpoint-credential-state" },
        `set ${fmtDate(endpoint.credential_set_at)} — shown once, when made; never again`)]];
  const rotate = actionButton("Rotate credential", async () => {
    const rotated = await api("POST", `${ENDPOINTS}/${endpoint.endpoint_id}/credentials`);
    clear(slot, credentialsPanel(rotated, { title: "The new credential" }));
    const state = ctx.main.querySelector("[data-testid=endpoint-credential-state]");
    if (state) state.textContent = `set ${fmtDate(rotated.credential_set_at)} — shown once, when made; never again`;
    slot.querySelector("h2").focus();
  }, { testid: "endpoint-rotate",
       confirm: `Rotate the credential of ${endpoint.name}? The current one stops working at once: devices set up ` +
                "with it need the new one to enroll." });
  return section("Credential", definitionList(facts), h("div", { class: "actions" }, rotate), slot);
}

screen({
  path: "/device-endpoints/:id",
  title: "Device endpoint",
  async render(ctx) {
    const id = ctx.params.id;
    const position = Number(ctx.query.position || 0);
    const [endpoint, directory] = await Promise.all([api("GET", `${ENDPOINTS}/${id}`), Directory.load()]);
    await directory.loadDepartments([endpoint.organization_id]);
    const disabled = endpoint.status === "disabled";
    const protocol = isProtocol(endpoint);
    const parts = [
      h("div", { class: "page-head" }, h("h1", {}, endpoint.name),
        h("span", { "data-testid": "endpoint-status" }, badge(endpoint.status))),
      h("p", {}, link("#/device-endpoints", "← Device endpoints")),
    ];
    if (flash && flash.id === id) parts.push(notice(flash.text, flash.kind));
    flash = null;
    if (protocol) {
      const url = endpointUrl(endpoint);
      parts.push(section(endpoint.type === "scep" ? "SCEP URL" : "EST URL",
        h("p", {}, endpoint.type === "scep" ? "Devices' SCEP clients use this server URL:"
          : "Devices' EST clients use this base URL (TLS):"),
        h("p", {}, url ? urlCell(url, "endpoint-protocol-url")
          : h("span", { "data-testid": "endpoint-protocol-url" },
              notice("The server's EST listener is off (setting est_port): devices cannot reach this endpoint.",
                     "warning"))),
        disabled ? notice("The endpoint is disabled: it enrolls no devices.", "warning") : null));
    } else {
      parts.push(section("Form URL", h("p", {}, urlCell(endpoint.form_url, "endpoint-form-url")),
                         disabled ? notice("The endpoint is disabled: its form accepts no requests.", "warning") : null));
    }
    parts.push(section("Endpoint", definitionList([
      ["Type", h("span", { "data-testid": "endpoint-type-words" }, typeWords(endpoint.type))],
      ["Organization / department", placeOf(directory, endpoint)],
      ["Profiles", profileNames(directory, endpoint.profile_ids)],
      ["URI extension", h("code", { class: "mono" }, endpoint.uri_extension)],
      ["Help link text", protocol ? null : endpoint.help_link_text],
      ["Help text", !protocol && endpoint.help_text ? h("p", { class: "prewrap" }, endpoint.help_text) : null],
      ["Created", fmtDate(endpoint.created_at)], ["Changed", fmtDate(endpoint.updated_at)],
    ])));
    let challenges = null;
    if (protocol) {
      parts.push(credentialSection(endpoint, ctx));
      challenges = challengesSection(endpoint, ctx.me);
      parts.push(challenges.element);
    }
    const [certificates] = await Promise.all([certificatesSection(endpoint, position, ctx),
                                              challenges ? challenges.reload() : null]);
    parts.push(certificates);
    const helps = helpFields(endpoint);
    showHelpFields(helps, !protocol);
    parts.push(section("Edit", form({
      testid: "endpoint-edit",
      fields: [
        field({ name: "name", label: "Name", required: true, maxlength: 128, value: endpoint.name, testid: "endpoint-name" }),
        checkGroup({ name: "profile_ids", legend: "Device profiles", testid: "endpoint-profiles",
                     items: profileItems(directory, "device"), checked: endpoint.profile_ids }),
        helps,
      ],
      onSubmit: async (values) => {
        const changes = endpointSettings(values);
        if (protocol) { delete changes.help_link_text; delete changes.help_text; }
        await api("PATCH", `${ENDPOINTS}/${id}`, { json: changes });
        flash = { id, kind: "success", text: "Saved." };
        ctx.refresh();
      },
    })));
    parts.push(section("Disable or delete", h("div", { class: "actions" },
      actionButton(disabled ? "Enable" : "Disable", async () => {
        await api("PATCH", `${ENDPOINTS}/${id}`, { json: { status: disabled ? "active" : "disabled" } });
        flash = { id, kind: "success", text: disabled ? "Enabled." : protocol ? "Disabled: it enrolls no devices."
          : "Disabled: the form accepts no requests." };
        ctx.refresh();
      }, { testid: "endpoint-toggle" }),
      actionButton("Delete endpoint", async () => {
        await api("DELETE", `${ENDPOINTS}/${id}`);
        navigate("/device-endpoints");
      }, { kind: "danger", testid: "endpoint-delete",
           confirm: `Delete the device endpoint ${endpoint.name}? Its ${protocol ? "URL" : "form URL"} stops working.` }))));
    clear(ctx.main, ...parts);
  },
});
