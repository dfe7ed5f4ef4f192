// ACME accounts (issue 14; SCM: the ACME endpoint's accounts): the list (#/acme-accounts), Create ACME account
// (#/acme-accounts/new) and an account's page (#/acme-accounts/<id>) with its orders, a link to its certificates in
// the SSL inventory, and Deactivate. An account binds an organization (optionally a department) and the SSL
// profiles its clients may use; creating one answers its External Account Binding credentials — the key id and the
// HMAC key — shown once in a panel with copy buttons and a certbot command line, and never again (no API answer
// holds it after the one that created the account). Who may manage them is who may request SSL certificates
// there (the server decides).
// /acme-accounts/new is registered before /acme-accounts/:id so that it is matched first.
import { api } from "../api.js";
import { hrefOf, navigate, screen } from "../router.js";
import { actionButton, badge, clear, copyButton, definitionList, field, fmtDate, form, h, link, notice, pager,
         section, table, uid } from "../ui.js";
import { Directory } from "./ssl-parts.js";
import { sslVisible } from "./ssl-inventory.js";

const PAGE = 25;
const ORDERS_PAGE = 20;
const BASE = "/api/v1/acme-accounts";
const WORDS = {
  profile_not_ssl: "An ACME account issues SSL certificates: choose SSL profiles only.",
};

// What this screen says once after an action that re-rendered it: {id, text, kind}
let flash = null;

function explained(error) {
  const words = WORDS[error.code];
  if (words && !String(error.message).includes(words)) error.message = `${error.message} — ${words}`;
  return error;
}

function orgName(directory, account) {
  return directory.organizationName(account.organization_id) ?? "(organization not visible to you)";
}

function departmentName(directory, account) {
  if (!account.department_id) return "—";
  return directory.departmentName(account.organization_id, account.department_id) ?? "(department not visible to you)";
}

// #/ssl filtered on the certificates its clients got (requested_by acme:<id>)
export function certificatesHref(accountId) {
  return hrefOf("/ssl", { requested_by: `acme:${accountId}` });
}

screen({
  path: "/acme-accounts",
  title: "ACME accounts",
  nav: { label: "ACME accounts", order: 55, visible: sslVisible },
  async render(ctx) {
    const position = Number(ctx.query.position || 0);
    const [found, directory] = await Promise.all([
      api("GET", BASE, { query: { position, size: PAGE } }), Directory.load()]);
    await directory.loadDepartments(found.items.map((a) => a.organization_id));
    const directoryUrl = found.items.length ? found.items[0].directory_url : null;
    clear(ctx.main,
      h("div", { class: "page-head" }, h("h1", {}, "ACME accounts"),
        link("#/acme-accounts/new", "Create ACME account", { class: "button primary", "data-testid": "acme-create" })),
      h("p", { class: "muted" }, "ACME clients — certbot, lego, acme.sh, cert-manager — get SSL certificates for an ",
        "organization or department with an account's External Account Binding (EAB) credentials. Their names must ",
        "be delegated there for SSL; the certificates appear in the SSL inventory."),
      directoryUrl ? h("p", { class: "copy-row acme-directory" }, "ACME directory: ",
        h("code", { "data-testid": "acme-directory-url" }, directoryUrl), copyButton(directoryUrl)) : null,
      table({
        testid: "acme-rows",
        caption: "ACME accounts",
        columns: [
          { label: "Name", value: (a) => link(`#/acme-accounts/${a.acme_account_id}`, a.name,
                                              { "data-testid": "acme-row-link" }) },
          { label: "Organization", value: (a) => orgName(directory, a) },
          { label: "Department", value: (a) => departmentName(directory, a) },
          { label: "EAB key id", value: (a) => h("code", { class: "acme-kid" }, a.eab_kid) },
          { label: "Status", value: (a) => h("span", { "data-testid": "acme-row-status" }, badge(a.status)) },
          { label: "Registrations", value: (a) => String(a.registrations) },
          { label: "Certificates", value: (a) => (a.certificates
            ? link(certificatesHref(a.acme_account_id), String(a.certificates)) : "0") },
          { label: "Created", value: (a) => fmtDate(a.created_at) },
        ],
        rows: found.items,
        empty: position ? "No accounts on this page." : "No ACME accounts yet.",
      }),
      pager({ total: found.total, position, size: PAGE,
              onChange: (next) => navigate("/acme-accounts", { position: next }) }));
  },
});

// ---- Create ACME account -----------------------------------------------------------------------------------------
screen({
  path: "/acme-accounts/new",
  title: "Create ACME account",
  async render(ctx) {
    const directory = await Directory.load();
    const places = await directory.requestable(ctx.me);
    const profiles = directory.sslProfiles();
    const head = h("div", { class: "page-head" }, h("h1", {}, "Create ACME account"),
                   link("#/acme-accounts", "All ACME accounts", { class: "button" }));
    if (!places.length || !profiles.length) {
      clear(ctx.main, head, notice(!places.length
        ? "You hold no role that may request SSL certificates for an organization or department."
        : "There is no SSL profile yet: an MRAO adds one under Profiles.", "info"));
      return;
    }
    const firstPlace = places.find((p) => p.organization.organization_id === ctx.query.organization_id) || places[0];
    const holder = h("div", {});
    const element = form({
      testid: "acme-form",
      submitLabel: "Create ACME account",
      fields: [
        field({ name: "name", label: "Name", required: true, maxlength: 128, testid: "acme-name",
                help: "what the account is for, e.g. web team or the Kubernetes cluster prod-1", autocomplete: "off" }),
        h("div", { class: "row" },
          field({ name: "organization_id", label: "Organization", type: "select", required: true,
                  testid: "acme-organization", value: firstPlace.organization.organization_id,
                  options: places.map((p) => [p.organization.organization_id, p.organization.name]) }),
          field({ name: "department_id", label: "Department", type: "select", testid: "acme-department",
                  options: departmentOptions(firstPlace),
                  help: "certificates are issued in its name (OU); fixed once created" })),
        profileChoice(profiles),
      ],
      secondary: [link("#/acme-accounts", "Cancel", { class: "button" })],
      onSubmit: async (values) => {
        const body = { name: (values.name || "").trim(), organization_id: values.organization_id,
                       department_id: values.department_id || null, profile_ids: values.profile_ids || [] };
        if (!body.profile_ids.length) throw { message: "Profiles: tick at least one SSL profile its clients may use." };
        let created;
        try {
          created = await api("POST", BASE, { json: body });
        } catch (error) {
          throw explained(error);
        }
        clear(ctx.main, h("div", { class: "page-head" }, h("h1", {}, `ACME account ${created.name}`),
                          badge(created.status)),
              credentialsPanel(created));
        ctx.main.querySelector("[data-testid=acme-credentials] h2").focus();
      },
    });
    const orgSelect = element.querySelector("select[name=organization_id]");
    const deptSelect = element.querySelector("select[name=department_id]");
    orgSelect.addEventListener("change", () => {
      const place = places.find((p) => p.organization.organization_id === orgSelect.value);
      clear(deptSelect, departmentOptions(place).map(([v, t]) => h("option", { value: v }, t)));
    });
    clear(holder, section(null, element));
    clear(ctx.main, head, holder);
  },
});

function departmentOptions(place) {
  if (!place) return [["", "None"]];
  const options = place.departments.map((d) => [d.department_id, d.name]);
  return place.whole ? [["", "None (the whole organization)"], ...options] : options;
}

// the SSL profiles as a group of checkboxes (valuesOf reads them as a list, in this order: the first ticked is the
// default for clients that ask for none)
function profileChoice(profiles) {
  return h("fieldset", { class: "check-group", "data-testid": "acme-profiles" },
    h("legend", {}, "Profiles its clients may use"),
    h("p", { class: "help" }, "SSL profiles only. The first one ticked is the default for clients that ask for none."),
    h("div", { class: "check-grid" }, profiles.map((p, i) => {
      const id = uid("acme-profile");
      return h("div", { class: "field checkbox" },
        h("input", { type: "checkbox", id, name: "profile_ids", value: p.profile_id, "data-group": "1",
                     checked: i === 0, "data-testid": "acme-profile" }),
        h("label", { for: id }, `${p.name} (${p.trust_class} trust)`));
    })));
}

// ---- the one-time panel: the key id and the HMAC key, with a certbot command line ---------------------------------
function credentialsPanel(created) {
  const headingId = uid("acme-credentials");
  const heading = h("h2", { id: headingId, tabindex: "-1" }, "External Account Binding credentials");
  const hostId = uid("acme-host");
  const host = h("input", { id: hostId, type: "text", value: "www.example.com", autocomplete: "off",
                            "data-testid": "acme-command-host", "aria-describedby": `${hostId}-help` });
  const command = h("code", { class: "mono acme-command", "data-testid": "acme-certbot" });
  const commandCopy = h("span", {});
  const showCommand = () => {
    const text = certbotCommand(created.directory_url, created.eab.kid, created.eab.hmac_key, host.value.trim());
    clear(command, text);
    clear(commandCopy, copyButton(text, "Copy command"));
  };
  host.addEventListener("input", showCommand);
  showCommand();
  return h("section", { class: "card secret-once acme-credentials", role: "region", "aria-labelledby": headingId,
                        "data-testid": "acme-credentials" },
    heading,
    h("div", { class: "alert warning", role: "alert", "data-testid": "acme-once-warning" },
      h("strong", {}, "The HMAC key is shown this once. "),
      "Certplane can never show it again: copy it now and store it with the key id where ",
      "the ACME client runs. If it is lost, deactivate this account and create another."),
    h("dl", { class: "facts" },
      h("dt", {}, "EAB key id"),
      h("dd", { class: "copy-row" }, h("code", { "data-testid": "acme-kid" }, created.eab.kid),
        copyButton(created.eab.kid, "Copy key id")),
      h("dt", {}, "EAB HMAC key"),
      h("dd", { class: "copy-row" }, h("code", { "data-testid": "acme-hmac" }, created.eab.hmac_key),
        copyButton(created.eab.hmac_key, "Copy HMAC key")),
      h("dt", {}, "ACME directory"),
      h("dd", { class: "copy-row" }, h("code", { "data-testid": "acme-directory" }, created.directory_url),
        copyButton(created.directory_url, "Copy directory URL"))),
    h("h3", {}, "certbot"),
    h("div", { class: "field" }, h("label", { for: hostId }, "Name to request"), host,
      h("p", { class: "help", id: `${hostId}-help` },
        "It must be delegated to the account's organization or department for SSL.")),
    h("div", { class: "copy-row acme-command-row" }, h("pre", { class: "acme-pre" }, command), commandCopy),
    h("p", { class: "help" }, "lego takes the same credentials: ", h("code", {}, "--eab --kid=…"), " and ",
      h("code", {}, "--hmac=…"), ", with ", h("code", {}, "--server=…"), " the directory."),
    h("div", { class: "actions" },
      link(`#/acme-accounts/${created.acme_account_id}`, "I stored the key — open the account",
           { class: "button primary", "data-testid": "acme-stored" })));
}

// `certbot certonly …` ready to paste: each value quoted for a POSIX shell where it needs it, and joined to its
// option by "=" (a base64url key may start with "-", which certbot would read as an option of its own)
export function certbotCommand(directoryUrl, kid, hmacKey, name) {
  return ["certbot certonly", `--server=${shellWord(directoryUrl)}`, `--eab-kid=${shellWord(kid)}`,
          `--eab-hmac-key=${shellWord(hmacKey)}`, "-d", shellWord(name || "www.example.com")].join(" ");
}

function shellWord(text) {
  return /^[A-Za-z0-9._:/@=+-]+$/.test(text) ? text : `'${String(text).replaceAll("'", "'\\''")}'`;
}

// ---- an account's page ---------------------------------------------------------------------------------------
screen({
  path: "/acme-accounts/:id",
  title: "ACME account",
  async render(ctx) {
    const id = ctx.params.id;
    const position = Number(ctx.query.position || 0);
    const [account, directory, orders] = await Promise.all([
      api("GET", `${BASE}/${id}`), Directory.load(),
      api("GET", `${BASE}/${id}/orders`, { query: { position, size: ORDERS_PAGE } })]);
    await directory.loadDepartments([account.organization_id]);
    const creator = await usernameOf(account.created_by, ctx.me);
    const active = account.status === "active";
    const parts = [
      h("div", { class: "page-head" }, h("h1", {}, account.name),
        h("span", { "data-testid": "acme-status" }, badge(account.status))),
      h("p", {}, link("#/acme-accounts", "← ACME accounts")),
    ];
    if (flash && flash.id === id) parts.push(notice(flash.text, flash.kind));
    flash = null;
    if (!active) {
      parts.push(notice("Deactivated: its EAB credentials and the client keys registered with them no longer work. " +
                        "The certificates it got stay valid until they expire or are revoked.", "warning"));
    }
    parts.push(section("Account", definitionList([
      ["Status", badge(account.status)],
      ["Organization", orgName(directory, account)],
      ["Department", account.department_id ? departmentName(directory, account) : "None (the whole organization)"],
      ["Profiles", h("ul", { class: "acme-profiles", "data-testid": "acme-profile-names" },
        account.profile_ids.map((p, i) => h("li", {}, directory.profileName(p), i === 0 ? " (default)" : "")))],
      ["EAB key id", h("span", { class: "copy-row" }, h("code", { "data-testid": "acme-kid" }, account.eab_kid),
                       copyButton(account.eab_kid, "Copy key id"))],
      ["EAB HMAC key", h("span", { class: "muted" }, "shown once, when the account was created; never again")],
      ["ACME directory", h("span", { class: "copy-row" }, h("code", {}, account.directory_url),
                           copyButton(account.directory_url, "Copy directory URL"))],
      ["Client keys registered", String(account.registrations)],
      ["Certificates issued", h("span", {}, String(account.certificates), " — ",
        link(certificatesHref(id), "its certificates in the SSL inventory", { "data-testid": "acme-certificates" }))],
      ["Created", fmtDate(account.created_at)],
      ["Created by", creator],
    ])));
    parts.push(section("Orders", ordersTable(orders),
      pager({ total: orders.total, position, size: ORDERS_PAGE,
              onChange: (next) => navigate(`/acme-accounts/${id}`, { position: next }) })));
    if (active) {
      parts.push(section("Deactivate",
        h("p", {}, "Its EAB credentials and every client key registered with them stop working at once; this cannot ",
          "be undone. Certificates it got stay valid: revoke them in the SSL inventory if they must stop too."),
        actionButton("Deactivate account", async () => {
          await api("POST", `${BASE}/${id}/deactivate`);
          flash = { id, text: `The ACME account ${account.name} is deactivated.`, kind: "success" };
          ctx.refresh();
        }, { kind: "danger", testid: "acme-deactivate",
             confirm: `Deactivate the ACME account ${account.name}? Its clients can no longer order certificates.` })));
    }
    clear(ctx.main, ...parts);
  },
});

function ordersTable(orders) {
  return table({
    testid: "acme-orders",
    caption: "Orders its clients placed, newest first",
    columns: [
      { label: "Identifiers", value: (o) => o.identifiers.map((i) => i.value).join(", ") },
      { label: "Status", value: (o) => badge(o.status) },
      { label: "Certificate", value: (o) => (o.ssl_id ? link(`#/ssl/${o.ssl_id}`, "open", { "aria-label":
        `the certificate of the order for ${o.identifiers.map((i) => i.value).join(", ")}` }) : "—") },
      { label: "Created", value: (o) => fmtDate(o.created_at) },
      { label: "Order id", value: (o) => h("code", { class: "acme-order-id" }, o.order_id) },
    ],
    rows: orders.items,
    empty: "No orders yet: none of its clients has ordered a certificate.",
  });
}

// the creator's username, when this admin may see them (else never their id)
async function usernameOf(adminId, me) {
  if (!adminId) return "—";
  if (adminId === me.admin_id) return me.username;
  try {
    return (await api("GET", `/api/v1/admins/${adminId}`)).username;
  } catch (ignored) {
    return "another administrator";
  }
}

