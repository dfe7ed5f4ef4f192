// Shared by the Admins and Persons screens: the organization/department tree the admin sees, the role grid
// (organizations and departments × certificate types), privilege names in words, and a small RFC 4180 CSV reader
// for the import report. (Candidates for ui.js: roleGrid, parseCsv, csvLine.)
import { listAll } from "../api.js";
import { h } from "../ui.js";
import { CERT_TYPES, departmentIds, isMrao, organizationIds } from "../session.js";

export const PRIVILEGE_NAMES = {
  create_peer_admins: "Create peer admins",
  edit_peer_admins: "Edit peer admins",
  delete_peer_admins: "Delete peer admins",
  domain_validation_without_dual_approval: "Domain validation without dual approval",
  allow_dcv: "Allow DCV",
  ssl_details_changing: "Change SSL certificate details",
  ssl_auto_approve: "Auto-approve SSL requests",
  ws_api_only: "Web-service API only (no console login: API keys only)",
  approve_domain_delegation: "Approve domain delegations",
  ms_ad_discovery: "MS Active Directory discovery",
  download_keys: "Download escrowed private keys",
};
export const PRIVILEGES = Object.keys(PRIVILEGE_NAMES);

export const TYPE_NAMES = Object.fromEntries(CERT_TYPES);

// [{organization_id, name, departments: [{department_id, name}]}] — only what this admin sees.
export async function organizationTree() {
  const organizations = await listAll("/api/v1/organizations");
  return Promise.all(organizations.map(async (o) => ({
    organization_id: o.organization_id,
    name: o.name,
    departments: o.department_count === 0 ? [] : await listAll(`/api/v1/organizations/${o.organization_id}/departments`),
  })));
}

export function namesOf(tree) {
  const names = {};
  for (const o of tree) {
    names[o.organization_id] = o.name;
    for (const d of o.departments) names[d.department_id] = `${o.name} / ${d.name}`;
  }
  return names;
}

// A role in words: "RAO SSL: Acme, Beta" (ids the viewer cannot name are counted, never shown).
export function roleText(role, names = {}) {
  if (role.role === "MRAO") return "MRAO";
  const ids = role.role === "RAO" ? role.organization_ids : role.department_ids;
  const known = ids.filter((i) => names[i]).map((i) => names[i]);
  const unknown = ids.length - known.length;
  const where = [...known, unknown ? `${unknown} ${role.role === "RAO" ? "organization" : "department"}(s)` : null]
    .filter(Boolean).join(", ");
  return `${role.role} ${TYPE_NAMES[role.cert_type] || role.cert_type}: ${where}`;
}

// May `me` give an RAO role of this type over the organization / a DRAO role over the department?
function mayOrg(me, org, type) {
  return isMrao(me) || organizationIds(me, type).includes(org.organization_id);
}
function mayDept(me, org, dept, type) {
  return mayOrg(me, org, type) || departmentIds(me, type).includes(dept.department_id);
}

// The role grid: a table of organizations (and under each its departments) × certificate types. Ticking an
// organization cell gives an RAO role of that type over it, a department cell a DRAO role. `roles` pre-ticks.
// Returns {element, roles()}.
export function roleGrid(me, tree, roles = []) {
  const ticked = new Set();
  for (const r of roles) {
    for (const o of r.organization_ids || []) if (r.role === "RAO") ticked.add(`o:${o}:${r.cert_type}`);
    for (const d of r.department_ids || []) if (r.role === "DRAO") ticked.add(`d:${d}:${r.cert_type}`);
  }
  const mrao = isMrao(me);
  const mraoBox = mrao ? h("input", { type: "checkbox", id: "role-mrao", "data-testid": "role-mrao",
                                      checked: roles.some((r) => r.role === "MRAO") }) : null;
  const cell = (kind, id, type, allowed, label) => {
    if (!allowed) return h("td", { class: "grid-none", "data-label": TYPE_NAMES[type] }, h("span", { class: "muted" }, "—"));
    const box = h("input", { type: "checkbox", "data-kind": kind, "data-id": id, "data-type": type,
                             "data-testid": `grid-${id}-${type}`, "aria-label": `${label}: ${TYPE_NAMES[type]}`,
                             checked: ticked.has(`${kind}:${id}:${type}`) });
    return h("td", { "data-label": TYPE_NAMES[type] }, box);
  };
  const rows = [];
  for (const org of tree) {
    const orgLabel = `${org.name} (RAO)`;
    rows.push(h("tr", { class: "grid-org" }, h("th", { scope: "row" }, org.name, h("span", { class: "muted" }, " — RAO")),
      CERT_TYPES.map(([t]) => cell("o", org.organization_id, t, mayOrg(me, org, t), orgLabel))));
    for (const dept of org.departments) {
      const label = `${org.name} / ${dept.name} (DRAO)`;
      rows.push(h("tr", { class: "grid-dept" }, h("th", { scope: "row" }, h("span", { class: "indent" }, dept.name),
        h("span", { class: "muted" }, " — DRAO")),
        CERT_TYPES.map(([t]) => cell("d", dept.department_id, t, mayDept(me, org, dept, t), label))));
    }
  }
  const grid = h("div", { class: "table-wrap role-grid" }, h("table", { "data-testid": "role-grid" },
    h("caption", {}, "Tick an organization to make the admin its RAO for that certificate type, a department to make them its DRAO."),
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Organization / department"),
      CERT_TYPES.map(([, text]) => h("th", { scope: "col" }, text)))),
    h("tbody", {}, rows.length ? rows : h("tr", { class: "empty" }, h("td", { colspan: 5 }, "No organizations you manage.")))));
  const element = h("fieldset", { class: "roles" }, h("legend", {}, "Roles"),
    mraoBox ? h("div", { class: "field checkbox" }, mraoBox,
      h("label", { for: "role-mrao" }, "MRAO — Master RAO: every organization, every certificate type")) : null,
    grid);
  return {
    element,
    roles() {
      if (mraoBox && mraoBox.checked) return [{ role: "MRAO" }];
      const out = [];
      for (const [t] of CERT_TYPES) {
        const pick = (kind) => [...grid.querySelectorAll(`input[data-kind="${kind}"][data-type="${t}"]`)]
          .filter((b) => b.checked).map((b) => b.dataset.id);
        const orgs = pick("o");
        const depts = pick("d");
        if (orgs.length) out.push({ role: "RAO", cert_type: t, organization_ids: orgs });
        if (depts.length) out.push({ role: "DRAO", cert_type: t, department_ids: depts });
      }
      return out;
    },
  };
}

// Privileges as checkboxes with names: those `me` may grant (an MRAO all), and those already held.
export function privilegeBoxes(me, held = []) {
  const offered = PRIVILEGES.filter((p) => isMrao(me) || me.privileges.includes(p) || held.includes(p));
  return h("fieldset", { class: "privileges" }, h("legend", {}, "Privileges"),
    offered.length ? h("div", { class: "privilege-list" }, offered.map((p) => {
      const id = `privilege-${p}`;
      return h("div", { class: "field checkbox" },
        h("input", { type: "checkbox", id, name: "privileges", value: p, "data-group": "privileges",
                     "data-testid": id, checked: held.includes(p) }),
        h("label", { for: id }, PRIVILEGE_NAMES[p] || p));
    })) : h("p", { class: "muted" }, "You hold no privileges to grant."));
}

// ---- CSV -------------------------------------------------------------------------------------------------------
// RFC 4180 records with the line each starts on (1-based), as the server counts them.
export function parseCsv(text) {
  const records = [];
  let line = 1;
  let i = 0;
  const n = text.length;
  while (i < n) {
    const start = line;
    const cells = [];
    let cell = "";
    let quoted = false;
    while (i < n) {
      const c = text[i];
      if (quoted) {
        if (c === '"' && text[i + 1] === '"') { cell += '"'; i += 2; continue; }
        if (c === '"') { quoted = false; i += 1; continue; }
        if (c === "\n") line += 1;
        cell += c; i += 1; continue;
      }
      if (c === '"' && cell === "") { quoted = true; i += 1; continue; }
      if (c === ",") { cells.push(cell); cell = ""; i += 1; continue; }
      if (c === "\r" && text[i + 1] === "\n") { i += 1; continue; }
      if (c === "\n" || c === "\r") { i += 1; line += 1; break; }
      cell += c; i += 1;
    }
    cells.push(cell);
    records.push({ line: start, cells });
  }
  return records;
}

export function csvLine(cells) {
  return cells.map((c) => (/[",\r\n]/.test(c) ? `"${c.replaceAll('"', '""')}"` : c)).join(",");
}

