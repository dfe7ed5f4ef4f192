// Client (S/MIME), code-signing and device certificates (issue 15; SCM: Certificates > Client / Code Signing /
// Device Certificates): one module for the three inventories, parameterised by type. For each type: the list
// (#/client, #/cscert, #/device — filters status and q in the URL query, sortable columns, paging, the count), the
// request form (#/<resource>/new) and a certificate's page (#/<resource>/<id>) with the actions its status allows
// (approve / decline / revoke) and the downloads once issued. The columns are the ones SCM users scan
// (SCM-REFERENCE.md "Certificate list columns people scan").
// A client certificate is asked for a person: the answer is `invited` and the person gets the invitation mail.
// A device or code-signing certificate comes from a CSR: the answer is issued (201), still being issued (202),
// waiting for approval, or refused — before anything is recorded (422, the API's message and details) or by the
// CA after it was recorded (422 with the findings and the id of the request, now failed).
// /<resource>/new is registered before /<resource>/:id so that it is matched first.
import { api, listAll, urlOf } from "../api.js";
import { hrefOf, navigate, screen } from "../router.js";
import { actionButton, badge, clear, confirmDialog, definitionList, field, fmtDate, form, h, link, notice,
         pager, section, table, uid } from "../ui.js";
import { departmentIds, hasType, isMrao, organizationIds } from "../session.js";
import { recoverySection } from "./key-escrow.js";
import { DOWNLOAD_FORMATS, REVOCATION_REASONS, colonHex, findingsTable, linesOf, statusWords } from "./ssl-parts.js";

const PAGE = 25;
const POLL_MS = 5000;
// contracts/certificates.py STATUSES (and the filter `valid`)
const STATUSES = ["invited", "requested", "approved", "applied", "failed", "issued", "downloaded", "declined",
                  "revoked", "expired"];
const PENDING = new Set(["invited", "requested", "approved", "applied"]);
const HAS_CERTIFICATE = new Set(["issued", "downloaded", "revoked", "expired"]);
const FILTERS = ["status", "q", "sort"];
const REQUESTED_VIA = { console: "console", api: "API", invitation: "invitation", form: "enrollment form",
                        scep: "SCEP", est: "EST" };

// The three types: their REST resource (also the console's path), their words and their place in the navigation.
export const TYPES = [
  { certType: "client", resource: "client", title: "Client certificates", one: "client certificate",
    request: "Invite a person", order: 51 },
  { certType: "code_signing", resource: "cscert", title: "Code signing certificates", navLabel: "Code signing",
    one: "code-signing certificate", request: "Request certificate", order: 52 },
  { certType: "device", resource: "device", title: "Device certificates", one: "device certificate",
    request: "Request certificate", order: 53 },
];

const visibleFor = (type) => (me) => isMrao(me) || hasType(me, type.certType);

// ---- names ------------------------------------------------------------------------------------------------
// The organizations and profiles the admin sees, departments per organization when needed, administrators'
// usernames when the admin may list them (what the admin cannot see is never named by its id).
class Names {
  constructor(organizations, profiles) {
    this.organizations = new Map(organizations.map((o) => [o.organization_id, o]));
    this.profiles = new Map(profiles.map((p) => [p.profile_id, p]));
    this.departments = new Map();
    this.admins = null;
  }

  static async load() {
    const [organizations, profiles] = await Promise.all([
      listAll("/api/v1/organizations"),
      api("GET", "/api/v1/profiles").then((answer) => answer.items),
    ]);
    return new Names(organizations, profiles);
  }

  profilesOf(certType) {
    return [...this.profiles.values()].filter((p) => p.cert_type === certType)
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  profileName(id) {
    const found = this.profiles.get(id);
    return found ? found.name : "(profile not visible to you)";
  }

  sortedOrganizations() {
    return [...this.organizations.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  organizationName(id) {
    const found = this.organizations.get(id);
    return found ? found.name : "(organization not visible to you)";
  }

  async departmentsOf(organizationId) {
    if (!organizationId || !this.organizations.has(organizationId)) return [];
    if (!this.departments.has(organizationId)) {
      try {
        const org = await api("GET", `/api/v1/organizations/${organizationId}`);
        this.departments.set(organizationId, org.departments || []);
      } catch (ignored) {
        this.departments.set(organizationId, []);
      }
    }
    return this.departments.get(organizationId);
  }

  async loadDepartments(ids) {
    await Promise.all([...new Set(ids)].map((id) => this.departmentsOf(id)));
  }

  placeOf(cert) {
    const org = this.organizationName(cert.organization_id);
    if (!cert.department_id) return org;
    const found = (this.departments.get(cert.organization_id) || []).find((d) => d.department_id === cert.department_id);
    return `${org} / ${found ? found.name : "(department not visible to you)"}`;
  }

  // administrators' usernames by admin_id (an admin who may not list administrators sees none of them)
  async loadAdmins() {
    if (this.admins) return;
    this.admins = new Map();
    try {
      for (const admin of await listAll("/api/v1/admins")) this.admins.set(admin.admin_id, admin.username);
    } catch (ignored) { /* not for this role */ }
  }

  adminName(id, me) {
    if (!id) return null;
    if (me && id === me.admin_id) return me.username;
    return (this.admins && this.admins.get(id)) || "another administrator";
  }

  // The organizations this admin may request certificates of `certType` for, each with the departments allowed
  async requestable(me, certType) {
    const mrao = isMrao(me);
    const raoOrgs = new Set(organizationIds(me, certType));
    const draoDepartments = new Set(departmentIds(me, certType));
    const out = [];
    for (const org of this.sortedOrganizations()) {
      const whole = mrao || raoOrgs.has(org.organization_id);
      if (!whole && draoDepartments.size === 0) continue;
      const departments = await this.departmentsOf(org.organization_id);
      const allowed = whole ? departments : departments.filter((d) => draoDepartments.has(d.department_id));
      if (whole || allowed.length) out.push({ organization: org, departments: allowed, whole });
    }
    return out;
  }
}

function orderNumber(cert) {
  return String(cert.cert_id).slice(0, 8);
}

function displayName(cert) {
  return cert.common_name || (cert.emails && cert.emails[0]) || (cert.sans && cert.sans[0]) || cert.email ||
    `order ${orderNumber(cert)}`;
}

function certBadge(status) {
  const element = badge(status);
  element.classList.add("cert-badge");
  return element;
}

function expiresCell(notAfter) {
  if (!notAfter) return "—";
  const days = Math.floor((new Date(notAfter).getTime() - Date.now()) / 86400000);
  return h("span", { class: days < 0 ? "ssl-expired" : days <= 30 ? "ssl-expiring" : null }, fmtDate(notAfter));
}

function listCell(items) {
  if (!items || !items.length) return "—";
  const shown = items.slice(0, 3).join(", ");
  return items.length > 3 ? h("span", { title: items.join(", ") }, `${shown} (+${items.length - 3} more)`) : shown;
}

function serialCell(cert) {
  return cert.serial ? h("code", { class: "ssl-serial" }, cert.serial) : "—";
}

// ---- the columns per type (SCM-REFERENCE.md) ----------------------------------------------------------------
function columnsOf(type, names, me) {
  const base = `#/${type.resource}`;
  const status = { label: "Status", sort: "status",
                   value: (c) => h("span", { "data-testid": "cert-row-status" }, certBadge(c.status)) };
  const order = { label: "Order number",
                  value: (c) => link(`${base}/${c.cert_id}`, orderNumber(c),
                                     { "data-testid": "cert-row-link", title: c.cert_id, class: "mono cert-order" }) };
  const profile = { label: "Profile", value: (c) => names.profileName(c.profile_id) };
  const term = { label: "Term", value: (c) => `${c.term_days} days` };
  const via = { label: "Requested via", value: (c) => REQUESTED_VIA[c.requested_via] || c.requested_via };
  const subject = { label: "Subject", value: (c) => (c.subject ? h("code", { class: "cert-subject" }, c.subject) : "—") };
  const expires = { label: "Expires", sort: "not_after", value: (c) => expiresCell(c.not_after) };
  const serial = { label: "Serial", sort: "serial", value: serialCell };
  const name = { label: "Name", value: (c) => c.name || "—" };
  const email = { label: "Email", value: (c) => c.email || "—" };
  const requested = { label: "Requested", sort: "created_at", value: (c) => fmtDate(c.requested_at || c.created_at) };
  const issued = { label: "Issued", value: (c) => fmtDate(c.issued_at) || "—" };
  const downloaded = { label: "Downloaded", value: (c) => fmtDate(c.downloaded_at) || "—" };
  if (type.certType === "client") {
    return [status, order, profile, term, via, subject, expires, serial, name, email, requested, issued, downloaded];
  }
  if (type.certType === "code_signing") {
    const organization = { label: "Organization", value: (c) => names.placeOf(c) };
    return [status, order, profile, term, via, subject, expires, serial, organization, name, email, issued, requested];
  }
  const commonName = { label: "Common name", sort: "common_name",
                       value: (c) => link(`${base}/${c.cert_id}`, c.common_name || "(none)") };
  const approver = { label: "Approver", value: (c) => names.adminName(c.approved_by, me) || "—" };
  const sans = { label: "SAN", value: (c) => listCell(c.sans) };
  return [status, commonName, order, profile, term, via, approver, subject, sans, expires];
}

// ---- the inventory --------------------------------------------------------------------------------------------
function filtersOf(query) {
  const out = {};
  for (const key of FILTERS) if (query[key]) out[key] = query[key];
  return out;
}

function registerList(type) {
  const path = `/${type.resource}`;
  screen({
    path,
    title: type.title,
    nav: { label: type.navLabel || type.title, order: type.order, visible: visibleFor(type) },
    async render(ctx) {
      const filters = filtersOf(ctx.query);
      const position = Number(ctx.query.position || 0);
      const [names, found] = await Promise.all([
        Names.load(),
        api("GET", `/api/v1/${type.resource}`, { query: { ...filters, position, size: PAGE } }),
      ]);
      await names.loadDepartments(found.items.map((c) => c.organization_id));
      if (type.certType === "device") await names.loadAdmins();

      const filterForm = form({
        testid: "cert-filters",
        submitLabel: "Filter",
        fields: [h("div", { class: "row" },
          field({ name: "q", label: type.certType === "client" ? "Name, email or serial contains"
                    : "Name or serial contains", value: filters.q, testid: "cert-filter-q",
                  help: "part of the common name, a SAN or an email, or of the serial (hex)" }),
          field({ name: "status", label: "Status", type: "select", value: filters.status, testid: "cert-filter-status",
                  options: [["", "Any"], ["valid", "valid (issued, not expired)"],
                            ...STATUSES.map((s) => [s, statusWords(s)])] }))],
        secondary: [link(hrefOf(path), "Clear filters", { class: "button" })],
        onSubmit: async (values) => navigate(path, { ...values, sort: filters.sort }),
      });

      const tableHolder = h("div", { class: "ssl-table cert-table" });
      const pagerHolder = h("div");
      const totalLine = h("p", { class: "muted", "data-testid": "cert-total", "aria-live": "polite" });
      const draw = (page) => {
        totalLine.textContent = `${page.total} certificate${page.total === 1 ? "" : "s"} match.`;
        clear(tableHolder, table({
          testid: "cert-rows",
          caption: type.title,
          sort: filters.sort || "-created_at",
          onSort: (sort) => navigate(path, { ...filters, sort }),
          columns: columnsOf(type, names, ctx.me),
          rows: page.items,
          empty: filters.status || filters.q ? "No certificate matches these filters." : `No ${type.one}s yet.`,
        }));
        clear(pagerHolder, pager({ total: page.total, position, size: PAGE,
                                   onChange: (p) => navigate(path, { ...filters, position: p }) }));
      };
      draw(found);

      clear(ctx.main,
        h("div", { class: "page-head" }, h("h1", {}, type.title),
          h("div", { class: "actions" },
            link(`#${path}/new`, type.request, { class: "button primary", "data-testid": "cert-request" }))),
        filterForm, totalLine, tableHolder, pagerHolder);

      // live: while a row of this page is on its way, read the page again every 5 s
      let current = found;
      ctx.poll(async () => {
        if (!current.items.some((c) => PENDING.has(c.status))) return;
        const again = await api("GET", `/api/v1/${type.resource}`,
                                { query: { ...filters, position, size: PAGE }, background: true });
        const key = (page) => page.items.map((c) => `${c.cert_id}:${c.status}`).join();
        const changed = key(again) !== key(current);
        current = again;
        if (changed) {
          await names.loadDepartments(again.items.map((c) => c.organization_id));
          draw(again);
        }
      }, POLL_MS);
    },
  });
}

// ---- the request forms --------------------------------------------------------------------------------------
function termOptions(profile) {
  return profile ? [...profile.terms].sort((a, b) => a - b).map((days) => [days, `${days} days`]) : [];
}

function profileWords(profile) {
  return `${profile.name} — ${profile.requires_approval ? "needs approval" : "no approval needed"}`;
}

function departmentOptions(place) {
  if (!place) return [["", "None"]];
  const options = place.departments.map((d) => [d.department_id, d.name]);
  return place.whole ? [["", "None (the whole organization)"], ...options] : options;
}

function personName(p) {
  return [p.first_name, p.middle_name, p.last_name].filter(Boolean).join(" ");
}

// A profile select whose term select follows it.
function wireTerms(element, names) {
  const profileSelect = element.querySelector("select[name=profile_id]");
  const termSelect = element.querySelector("select[name=term_days]");
  const info = element.querySelector("[data-testid=cert-profile-info]");
  const show = () => {
    const profile = names.profiles.get(profileSelect.value);
    const keep = termSelect.value;
    clear(termSelect, termOptions(profile).map(([v, t]) => h("option", { value: v, selected: String(v) === keep }, t)));
    if (info && profile) {
      clear(info, h("p", { class: "help" }, profile.requires_approval
        ? "Needs approval by another administrator. " : "Issued at once, without approval. ",
      `Key types: ${profile.key_types.join(", ")}.`));
    }
  };
  profileSelect.addEventListener("change", show);
  show();
}

function registerNew(type) {
  const path = `/${type.resource}`;
  screen({
    path: `${path}/new`,
    title: type.certType === "client" ? "Invite a person to a client certificate" : `Request a ${type.one}`,
    async render(ctx) {
      const names = await Names.load();
      const heading = type.certType === "client" ? "Invite a person to a client certificate" : `Request a ${type.one}`;
      const head = h("div", { class: "page-head" }, h("h1", {}, heading),
                     link(`#${path}`, `Back to ${type.title.toLowerCase()}`, { class: "button" }));
      const profiles = names.profilesOf(type.certType);
      if (!profiles.length) {
        clear(ctx.main, head, notice(`There is no ${type.one} profile yet: an MRAO adds one under Profiles.`, "info"));
        return;
      }
      if (type.certType === "client") return clientForm(ctx, names, profiles, head);
      return csrForm(ctx, type, names, profiles, head);
    },
  });
}

// client: a person (searchable), a client profile and a term -> invited: the invitation mail went to the person
async function clientForm(ctx, names, profiles, head) {
  const persons = (await listAll("/api/v1/persons")).sort((a, b) => a.email.localeCompare(b.email));
  if (!persons.length) {
    clear(ctx.main, head, notice("There is nobody to invite yet: add the person under Persons first.", "info"));
    return;
  }
  const label = (p) => `${personName(p) || "(no name)"} <${p.email}> — ${names.organizationName(p.organization_id)}`;
  const searchId = uid("person-search");
  const search = h("input", { id: searchId, type: "search", "data-testid": "cert-person-search", autocomplete: "off",
                              placeholder: "name or email" });
  const result = h("div", { class: "cert-result", "aria-live": "polite", "data-testid": "cert-result" });
  const element = form({
    testid: "cert-request-form",
    submitLabel: "Send the invitation",
    fields: [
      h("fieldset", {}, h("legend", {}, "Person"),
        h("div", { class: "field" }, h("label", { for: searchId }, "Find a person"), search,
          h("p", { class: "help" }, "Type part of the name or email to narrow the list below.")),
        field({ name: "person_id", label: "Person", type: "select", required: true, testid: "cert-person",
                value: ctx.query.person_id, options: persons.map((p) => [p.person_id, label(p)]) })),
      h("fieldset", {}, h("legend", {}, "Profile and term"),
        h("div", { class: "row" },
          field({ name: "profile_id", label: "Profile", type: "select", required: true, testid: "cert-profile",
                  options: profiles.map((p) => [p.profile_id, profileWords(p)]) }),
          field({ name: "term_days", label: "Term", type: "select", required: true, testid: "cert-term",
                  options: termOptions(profiles[0]) })),
        h("div", { class: "ssl-profile-info", "data-testid": "cert-profile-info", "aria-live": "polite" })),
      field({ name: "comments", label: "Comments", type: "textarea", rows: 2, testid: "cert-comments" }),
    ],
    secondary: [link("#/client", "Cancel", { class: "button" })],
    onSubmit: async (values) => {
      clear(result);
      const made = await api("POST", "/api/v1/client", { json: {
        person_id: values.person_id, profile_id: values.profile_id, term_days: Number(values.term_days),
        comments: values.comments || null } });
      clear(result, h("div", { class: "alert success", role: "status", "data-testid": "cert-invited" },
        h("p", {}, `Invitation sent to ${made.email}.`),
        h("p", {}, "The person proves the mailbox by the link in the mail and makes the key; the request then ",
          "appears as requested. ",
          link(`#/client/${made.cert_id}`, `Open order ${orderNumber(made)}`, { "data-testid": "cert-open" }))));
    },
  });
  const personSelect = element.querySelector("select[name=person_id]");
  search.addEventListener("input", () => {
    const words = search.value.trim().toLowerCase();
    const shown = persons.filter((p) => !words || label(p).toLowerCase().includes(words));
    const keep = personSelect.value;
    clear(personSelect, shown.length ? shown.map((p) => h("option", { value: p.person_id, selected: p.person_id === keep },
      label(p))) : h("option", { value: "" }, "(nobody matches)"));
  });
  wireTerms(element, names);
  clear(ctx.main, head, section(null, element, result));
}

// device and code signing: organization (+ department), profile, term, the CSR, names, custom fields
async function csrForm(ctx, type, names, profiles, head) {
  const places = await names.requestable(ctx.me, type.certType);
  if (!places.length) {
    clear(ctx.main, head, notice(`You hold no role that may request ${type.one}s for an organization or department.`,
                                 "info"));
    return;
  }
  const device = type.certType === "device";
  const persons = device ? [] : await listAll("/api/v1/persons").catch(() => []);
  const firstPlace = places.find((p) => p.organization.organization_id === ctx.query.organization_id) || places[0];
  const result = h("div", { class: "cert-result", "aria-live": "polite", "data-testid": "cert-result" });
  const customRows = h("div", { class: "cert-custom-rows", "data-testid": "cert-custom-fields" });
  const addRow = (name = "", value = "") => {
    const nameId = uid("custom-name");
    const valueId = uid("custom-value");
    const row = h("div", { class: "row cert-custom-row", "data-testid": "cert-custom-row" },
      h("div", { class: "field" }, h("label", { for: nameId }, "Field name"),
        h("input", { id: nameId, type: "text", class: "cert-custom-name", maxlength: 64, value: name })),
      h("div", { class: "field" }, h("label", { for: valueId }, "Value"),
        h("input", { id: valueId, type: "text", class: "cert-custom-value", maxlength: 256, value })),
      h("button", { type: "button", class: "small", onclick: () => row.remove() }, "Remove"));
    customRows.append(row);
  };
  const csrId = uid("csr");
  const orgOptions = places.map((p) => [p.organization.organization_id, p.organization.name]);
  const element = form({
    testid: "cert-request-form",
    submitLabel: "Request certificate",
    fields: [
      h("fieldset", {}, h("legend", {}, "For"),
        h("div", { class: "row" },
          field({ name: "organization_id", label: "Organization", type: "select", required: true,
                  testid: "cert-organization", value: firstPlace.organization.organization_id, options: orgOptions }),
          field({ name: "department_id", label: "Department", type: "select", testid: "cert-department",
                  options: departmentOptions(firstPlace) })),
        device ? null : field({ name: "person_id", label: "Person (optional)", type: "select", testid: "cert-person",
                                options: [["", "None: the organization is the subscriber"],
                                          ...persons.map((p) => [p.person_id, `${personName(p)} <${p.email}>`])],
                                help: "a person of the organization named in the certificate instead of it" })),
      h("fieldset", {}, h("legend", {}, "Profile and term"),
        h("div", { class: "row" },
          field({ name: "profile_id", label: "Profile", type: "select", required: true, testid: "cert-profile",
                  options: profiles.map((p) => [p.profile_id, profileWords(p)]) }),
          field({ name: "term_days", label: "Term", type: "select", required: true, testid: "cert-term",
                  options: termOptions(profiles[0]) })),
        h("div", { class: "ssl-profile-info", "data-testid": "cert-profile-info", "aria-live": "polite" })),
      h("fieldset", {}, h("legend", {}, "Certificate signing request (CSR)"),
        h("div", { class: "field" },
          h("div", { class: "label-row" }, h("label", { for: csrId }, "CSR (PEM)"),
            h("span", { class: "required", "aria-hidden": "true" }, "*")),
          h("textarea", { id: csrId, name: "csr", rows: 8, class: "mono", required: true, "data-testid": "cert-csr",
                          placeholder: "-----BEGIN CERTIFICATE REQUEST-----" }),
          h("p", { class: "help" }, device
            ? "The subject's O, OU, L, ST and C become the organization's, whatever the CSR says."
            : "The certificate names the organization (or the person): the CSR gives the key."))),
      h("fieldset", {}, h("legend", {}, "Names"),
        field({ name: "common_name", label: device ? "Common name (optional)" : "Subscriber name (optional)",
                testid: "cert-common-name", maxlength: 64, autocomplete: "off",
                help: device ? "a DNS name, or a device name that is not one; empty: the CSR's"
                  : "empty: the person's or the organization's name" }),
        device ? field({ name: "sans", label: "Subject alternative names (one per line, optional)", type: "textarea",
                         rows: 3, testid: "cert-sans", mono: true,
                         help: "DNS names and IP addresses, delegated to the organization for SSL; added to the CSR's" })
          : null),
      h("fieldset", {}, h("legend", {}, "Custom fields"), customRows,
        h("div", { class: "actions" }, h("button", { type: "button", "data-testid": "cert-custom-add",
                                                     onclick: () => addRow() }, "Add a field"))),
      field({ name: "comments", label: "Comments", type: "textarea", rows: 2, testid: "cert-comments" }),
    ],
    secondary: [link(`#/${type.resource}`, "Cancel", { class: "button" })],
    onSubmit: async (values) => {
      clear(result);
      const customFields = {};
      for (const row of customRows.querySelectorAll(".cert-custom-row")) {
        const key = row.querySelector(".cert-custom-name").value.trim();
        const value = row.querySelector(".cert-custom-value").value.trim();
        if (key) customFields[key] = value;
        else if (value) throw { message: "a custom field has a value but no name", code: "custom_field_name" };
      }
      const body = {
        organization_id: values.organization_id,
        department_id: values.department_id || null,
        profile_id: values.profile_id,
        term_days: Number(values.term_days),
        csr: String(values.csr || "").trim(),
        common_name: values.common_name ? values.common_name.trim() : null,
        sans: device ? linesOf(values.sans) : [],
        custom_fields: customFields,
        comments: values.comments || null,
      };
      if (!device && values.person_id) body.person_id = values.person_id;
      const response = await api("POST", `/api/v1/${type.resource}`, { json: body, raw: true }).catch((error) => {
        // refused: before anything was recorded (the message and details under the form), or by the CA after it
        // was recorded (now failed: the findings and a link to it here as well)
        const details = error && error.details;
        if (details && Array.isArray(details.findings)) {
          clear(result, h("div", { class: "card", "data-testid": "cert-failed" },
            h("h3", {}, "The request was recorded, and the CA refused to issue it"),
            h("p", { "data-testid": "cert-failed-reason" }, error.message),
            findingsTable(details.findings, "cert-findings"),
            details.cert_id ? h("p", {}, link(`#/${type.resource}/${details.cert_id}`, "Open the failed request",
                                             { class: "button", "data-testid": "cert-open" })) : null));
          const rest = Object.fromEntries(Object.entries(details).filter(([k]) => !["findings", "cert_id"].includes(k)));
          throw { message: error.message, code: error.code, status: error.status, correlationId: error.correlationId,
                  details: Object.keys(rest).length ? rest : null };
        }
        throw error;
      });
      const made = await response.json();
      const open = link(`#/${type.resource}/${made.cert_id}`, `Open order ${orderNumber(made)}`,
                        { "data-testid": "cert-open" });
      const words = made.status === "issued" ? "Issued."
        : response.status === 202 || made.status === "applied" || made.status === "approved"
          ? "Approved: the certificate is being issued and follows within seconds."
          : made.status === "requested" ? "Requested: it waits for approval by another administrator."
            : `Recorded: ${statusWords(made.status)}.`;
      clear(result, h("div", { class: `alert ${made.status === "issued" ? "success" : "info"}`, role: "status",
                               "data-testid": "cert-answer" },
        h("p", {}, h("span", { "data-testid": "cert-answer-status" }, certBadge(made.status)), " ", words), h("p", {}, open)));
      element.querySelector("textarea[name=csr]").value = "";
    },
  });
  const orgSelect = element.querySelector("select[name=organization_id]");
  const deptSelect = element.querySelector("select[name=department_id]");
  orgSelect.addEventListener("change", () => {
    const place = places.find((p) => p.organization.organization_id === orgSelect.value);
    clear(deptSelect, departmentOptions(place).map(([v, t]) => h("option", { value: v }, t)));
  });
  wireTerms(element, names);
  clear(ctx.main, head, section(null, element, result));
}

// ---- a certificate's page -------------------------------------------------------------------------------------
let flash = null;        // {id, text, kind}: said once after an action that re-rendered the page

function registerDetail(type) {
  const base = `/api/v1/${type.resource}`;
  screen({
    path: `/${type.resource}/:id`,
    title: `${type.one[0].toUpperCase()}${type.one.slice(1)}`,
    async render(ctx) {
      const id = ctx.params.id;
      const [cert, names] = await Promise.all([api("GET", `${base}/${id}`), Names.load()]);
      await Promise.all([names.loadDepartments([cert.organization_id]), names.loadAdmins()]);
      const mine = cert.requested_by === ctx.me.admin_id;
      const parts = [
        h("div", { class: "page-head" }, h("h1", {}, displayName(cert)),
          h("span", { "data-testid": "cert-status" }, certBadge(cert.status))),
        h("p", {}, link(`#/${type.resource}`, `← ${type.title}`)),
      ];
      if (flash && flash.id === id) parts.push(notice(flash.text, flash.kind));
      flash = null;
      if (cert.status === "invited") {
        parts.push(notice(`Invitation sent to ${cert.email}${cert.invitation_expires_at
          ? `; its link works until ${fmtDate(cert.invitation_expires_at)}` : ""}. The request follows when the person answers.`,
        "info"));
      } else if (cert.status === "requested") {
        parts.push(notice(mine ? "Waiting for approval by another administrator." : "Waiting for approval.", "info"));
      } else if (cert.status === "approved" || cert.status === "applied") {
        parts.push(notice("Issuing… the certificate follows within seconds; this page shows it when it is there.", "info"));
      } else if (cert.status === "declined") {
        parts.push(notice(`Declined: ${cert.declined_reason || "no reason given"}`, "warning"));
      } else if (cert.status === "revoked") {
        parts.push(notice(`Revoked (${statusWords(cert.revocation_reason || "unspecified")}).`, "warning"));
      } else if (cert.status === "expired") {
        parts.push(notice("This certificate has expired.", "warning"));
      }
      if (cert.last_error) {
        parts.push(h("div", { class: "alert error", role: "alert", "data-testid": "cert-last-error" },
          h("p", { class: "alert-message" }, cert.status === "failed"
            ? "Issuance failed: the CA refused to issue this certificate after the request was recorded."
            : "The CA refused or did not answer."),
          h("p", {}, cert.last_error, cert.last_error_code ? [" (", h("code", {}, cert.last_error_code), ")"] : null)));
      }
      if (cert.last_findings && cert.last_findings.length) {
        parts.push(section("Why it failed", findingsTable(cert.last_findings, "cert-findings")));
      }
      const actionBlock = actions(ctx, type, cert, mine);
      if (actionBlock) parts.push(actionBlock);
      if (type.certType === "client" && cert.escrowed) {
        parts.push(recoverySection(ctx, cert, { adminName: (a) => names.adminName(a, ctx.me), title: displayName(cert) }));
      }

      const profile = names.profiles.get(cert.profile_id);
      const customFields = Object.entries(cert.custom_fields || {});
      parts.push(section("Certificate", definitionList([
        ["Status", certBadge(cert.status)],
        ["Order number", h("code", { "data-testid": "cert-id" }, cert.cert_id)],
        ["Common name", cert.common_name || "(none)"],
        ["Subject", cert.subject ? h("code", { "data-testid": "cert-subject" }, cert.subject) : null],
        ["Emails", cert.emails && cert.emails.length ? cert.emails.join(", ") : null],
        ["Subject alternative names", cert.sans && cert.sans.length
          ? h("ul", { class: "ssl-names" }, cert.sans.map((s) => h("li", {}, s))) : null],
        ["Person", cert.name || cert.person_id ? `${cert.name || ""}${cert.email ? ` <${cert.email}>` : ""}`.trim() : null],
        ["Email", cert.person_id ? null : cert.email],
        ["Organization / department", names.placeOf(cert)],
        ["Profile", profile ? profileWords(profile) : names.profileName(cert.profile_id)],
        ["Term", `${cert.term_days} days`],
        ["Key type", cert.key_type],
        ["Key made by", cert.key_origin === "server" ? "the server (the person downloads a PKCS#12)"
          : cert.key_origin === "client" ? "the applicant (CSR)" : null],
        ["Requested via", REQUESTED_VIA[cert.requested_via] || cert.requested_via],
        ["Requested by", names.adminName(cert.requested_by, ctx.me)],
        ["Approved by", names.adminName(cert.approved_by, ctx.me)],
        ["Requested", fmtDate(cert.requested_at || cert.created_at)],
        ["Issued", fmtDate(cert.issued_at)],
        ["Downloaded", fmtDate(cert.downloaded_at)],
        ["Serial", cert.serial ? h("code", { class: "ssl-serial", "data-testid": "cert-serial" }, cert.serial) : null],
        ["Valid from", fmtDate(cert.not_before)],
        ["Valid until", cert.not_after ? h("span", { "data-testid": "cert-not-after" }, fmtDate(cert.not_after)) : null],
        ["SHA-256 fingerprint", cert.sha256_fingerprint
          ? h("code", { class: "ssl-fingerprint" }, colonHex(cert.sha256_fingerprint)) : null],
        ["Custom fields", customFields.length ? h("dl", { class: "facts cert-custom", "data-testid": "cert-custom" },
          customFields.map(([k, v]) => [h("dt", {}, k), h("dd", {}, String(v))])) : null],
        ["Comments", cert.comments],
      ])));
      clear(ctx.main, ...parts);

      if (PENDING.has(cert.status)) {
        ctx.poll(async () => {
          const again = await api("GET", `${base}/${id}`, { background: true });
          if (again.status !== cert.status || again.last_error !== cert.last_error) ctx.refresh();
        }, cert.status === "approved" || cert.status === "applied" ? 1000 : POLL_MS);
      }
    },
  });
}

function actions(ctx, type, cert, mine) {
  const base = `/api/v1/${type.resource}/${cert.cert_id}`;
  const blocks = [];
  const failed = cert.status === "failed";
  if ((cert.status === "requested" || failed) && !mine) {
    blocks.push(h("div", { class: "ssl-action", "data-testid": "cert-approve" }, h("h3", {}, "Approve"),
      form({
        testid: "cert-approve-form",
        submitLabel: failed ? "Approve again (retry)" : "Approve",
        fields: [field({ name: "message", label: "Message", type: "textarea", rows: 2, testid: "cert-approve-message" })],
        onSubmit: async (values) => {
          try {
            await api("POST", `${base}/approve`, { json: values.message ? { message: values.message } : {} });
          } catch (error) {
            if (!(error && error.details && error.details.cert_id === cert.cert_id)) throw error;
            flash = { id: cert.cert_id, kind: "warning",
                      text: "Your approval was recorded, but the CA refused to issue the certificate: see why below." };
          }
          ctx.refresh();
        },
      })));
  } else if (cert.status === "requested" && mine) {
    blocks.push(h("p", { class: "muted" }, "You requested this certificate: another administrator approves it."));
  }
  if (cert.status === "requested" || cert.status === "invited" || failed) {
    blocks.push(h("div", { class: "ssl-action", "data-testid": "cert-decline" },
      h("h3", {}, cert.status === "invited" ? "Withdraw the invitation" : "Decline"),
      form({
        testid: "cert-decline-form",
        submitLabel: "Decline",
        fields: [field({ name: "reason", label: "Reason", type: "textarea", rows: 2, required: true,
                         testid: "cert-decline-reason" })],
        onSubmit: async (values) => {
          await api("POST", `${base}/decline`, { json: { reason: values.reason } });
          ctx.refresh();
        },
      })));
  }
  if (HAS_CERTIFICATE.has(cert.status)) {
    blocks.push(h("div", { class: "ssl-action", "data-testid": "cert-downloads" }, h("h3", {}, "Download"),
      h("ul", { class: "ssl-downloads" }, DOWNLOAD_FORMATS.map(([format, words]) => h("li", {},
        link(urlOf(`${base}/download`, { format }), words, { "data-testid": `cert-download-${format}`, download: "" })))),
      cert.key_origin === "server" ? h("p", { class: "help" }, "The key and certificate as PKCS#12 are for the person " +
                                                               "only, through the invitation link with their password.")
        : null));
  }
  if (cert.status === "issued" || cert.status === "downloaded") {
    const reasonId = uid("revoke-reason");
    const reason = h("select", { id: reasonId, "data-testid": "cert-revoke-reason" },
      REVOCATION_REASONS.map(([value, words]) => h("option", { value }, words)));
    blocks.push(h("div", { class: "ssl-action", "data-testid": "cert-revoke" }, h("h3", {}, "Revoke"),
      h("div", { class: "field" }, h("label", { for: reasonId }, "Reason (RFC 5280)"), reason),
      actionButton("Revoke certificate", async () => {
        const words = REVOCATION_REASONS.find(([v]) => v === reason.value)[1];
        const sure = await confirmDialog(`Revoke the ${type.one} ${displayName(cert)}?`, {
          confirmLabel: "Revoke", body: h("p", {}, `Reason: ${words}. A revocation cannot be undone.`) });
        if (!sure) return;
        await api("POST", `${base}/revoke`, { json: { reason: reason.value } });
        ctx.refresh();
      }, { kind: "danger", testid: "cert-revoke-button" })));
  }
  if (!blocks.length) return null;
  return section("Actions", h("div", { class: "ssl-actions" }, blocks));
}

for (const type of TYPES) {
  registerList(type);
  registerNew(type);
  registerDetail(type);
}

