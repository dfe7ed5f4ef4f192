// What the Domains and Networks screens share (issue 12): the SCM delegation grid (organizations and their
// departments × certificate types), the delegations table with approve / reject / remove, the names of the
// organizations and departments the admin sees, and the rules that keep the console from offering what the
// server would refuse (the server decides: contracts/access.py). Candidates for ui.js: none yet — the grid is
// specific to delegated objects (domains, networks).
import { api, listAll } from "../api.js";
import { actionButton, badge, confirmDialog, errorBox, h, notice, table } from "../ui.js";
import { isMrao, hasPrivilege } from "../session.js";

// The certificate types a delegation can carry (contracts/domains.py DELEGATION_CERT_TYPES).
export const DELEGATION_TYPES = [["ssl", "SSL"], ["client", "Client"], ["code_signing", "Code signing"]];
const TYPE_WORDS = Object.fromEntries(DELEGATION_TYPES);

export function typeWords(types) {
  const order = DELEGATION_TYPES.map(([t]) => t);
  return [...(types || [])].sort((a, b) => order.indexOf(a) - order.indexOf(b)).map((t) => TYPE_WORDS[t] || t)
    .join(", ");
}

// ---- names of organizations and departments (only those the admin sees: the API lists no others) ------------
export class Names {
  constructor() {
    this.organizations = [];
    this.org = new Map();
    this.departments = new Map();      // organization_id -> [departments]
    this.dept = new Map();
  }

  async load() {
    this.organizations = await listAll("/api/v1/organizations");
    for (const o of this.organizations) this.org.set(o.organization_id, o.name);
    return this;
  }

  async departmentsOf(organizationId) {
    if (!this.departments.has(organizationId)) {
      let found = [];
      try {
        found = await listAll(`/api/v1/organizations/${organizationId}/departments`);
      } catch (ignored) {
        found = [];
      }
      this.departments.set(organizationId, found);
      for (const d of found) this.dept.set(d.department_id, d.name);
    }
    return this.departments.get(organizationId);
  }

  // Department names for the delegations shown (one request per organization that has department delegations).
  async forDelegations(delegations) {
    const wanted = new Set(delegations.filter((d) => d.department_id && this.org.has(d.organization_id))
      .map((d) => d.organization_id));
    await Promise.all([...wanted].map((id) => this.departmentsOf(id)));
  }

  orgName(id) {
    return this.org.get(id) || "an organization you do not see";
  }

  where(delegation) {
    const org = this.orgName(delegation.organization_id);
    if (!delegation.department_id) return org;
    return `${org} / ${this.dept.get(delegation.department_id) || "a department"}`;
  }
}

// ---- what the admin may do (mirrors contracts/access.py; the server still decides) ---------------------------
export function mayDelegate(me, organizationId, departmentId, certTypes) {
  if (isMrao(me)) return true;
  return certTypes.every((t) => me.roles.some((r) =>
    (r.role === "RAO" && r.cert_type === t && r.organization_ids.includes(organizationId)) ||
    (r.role === "DRAO" && r.cert_type === t && departmentId && r.department_ids.includes(departmentId))));
}

export function mayDecide(me, delegation) {
  if (delegation.status !== "requested" || delegation.requested_by === me.admin_id) return false;
  if (isMrao(me)) return true;
  return hasPrivilege(me, "approve_domain_delegation") && delegation.cert_types.every((t) => me.roles.some((r) =>
    r.role === "RAO" && r.cert_type === t && r.organization_ids.includes(delegation.organization_id)));
}

export function mayChange(me, found) {
  if (isMrao(me)) return true;
  return found.delegations.filter((d) => d.status !== "rejected")
    .every((d) => mayDelegate(me, d.organization_id, d.department_id, d.cert_types));
}

// A summary of delegations for a list cell: "Org / Dept: SSL, Client [approved]" per line.
export function delegationSummary(names, delegations) {
  if (!delegations.length) return h("span", { class: "muted" }, "not delegated");
  return h("ul", { class: "delegation-list" }, delegations.map((d) =>
    h("li", {}, `${names.where(d)}: ${typeWords(d.cert_types)} `, badge(d.status))));
}

// ---- the delegation grid -----------------------------------------------------------------------------------
// grid(names, me) -> {element, delegations()}: one row per organization (and, on demand, its departments), one
// checkbox per certificate type. A type the admin holds no role for is not offered (disabled).
export function delegationGrid(names, me, { testid = "delegation-grid", legend = "Delegate to" } = {}) {
  const body = h("tbody", { "data-testid": testid });
  const filter = h("input", { type: "search", id: `${testid}-filter`, "aria-describedby": `${testid}-help` });
  const rowOf = (org, dept) => {
    const where = dept ? `${org.name} / ${dept.name}` : org.name;
    const cells = DELEGATION_TYPES.map(([type, words]) => {
      const allowed = mayDelegate(me, org.organization_id, dept ? dept.department_id : null, [type]);
      const box = h("input", { type: "checkbox", "aria-label": `${words} for ${where}`, disabled: !allowed,
                               "data-organization": org.organization_id,
                               "data-department": dept ? dept.department_id : "", "data-type": type,
                               title: allowed ? null : "you hold no role for this" });
      return h("td", { "data-label": words, class: "grid-cell" }, box);
    });
    return h("tr", { class: dept ? "grid-department" : "grid-organization", "data-name": where.toLowerCase() },
      h("th", { scope: "row" }, dept ? h("span", { class: "grid-indent" }, dept.name) : org.name), cells,
      h("td", { "data-label": "Departments" }, dept ? null : departmentsButton(org)));
  };
  const departmentsButton = (org) => {
    if (!org.department_count) return h("span", { class: "muted" }, "no departments");
    const button = h("button", { type: "button", class: "small", "aria-expanded": "false" },
                     `Show departments (${org.department_count})`);
    let shown = null;
    button.addEventListener("click", async () => {
      if (shown) {
        shown.forEach((row) => row.remove());
        shown = null;
        button.setAttribute("aria-expanded", "false");
        button.textContent = `Show departments (${org.department_count})`;
        return;
      }
      button.disabled = true;
      const departments = await names.departmentsOf(org.organization_id);
      button.disabled = false;
      shown = departments.map((d) => rowOf(org, d));
      button.closest("tr").after(...shown);
      button.setAttribute("aria-expanded", "true");
      button.textContent = "Hide departments";
    });
    return button;
  };
  for (const org of names.organizations) body.append(rowOf(org, null));
  filter.addEventListener("input", () => {
    const text = filter.value.trim().toLowerCase();
    for (const row of body.querySelectorAll("tr")) row.hidden = Boolean(text) && !row.dataset.name.includes(text);
  });
  const element = h("fieldset", { class: "delegation-grid" }, h("legend", {}, legend),
    names.organizations.length ? [
      h("div", { class: "field" }, h("label", { for: `${testid}-filter` }, "Find an organization or department"),
        filter, h("p", { class: "help", id: `${testid}-help` },
          "Tick the certificate types each organization (or department) may request for it. Delegations an MRAO " +
          "makes are approved at once; others are requested until an approver decides.")),
      h("div", { class: "table-wrap" }, h("table", { class: "grid-table" },
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Organization / department"),
          DELEGATION_TYPES.map(([, words]) => h("th", { scope: "col" }, words)), h("th", { scope: "col" }, ""))),
        body))]
      : notice("You see no organizations to delegate to.", "info"));
  return {
    element,
    delegations() {
      const rows = new Map();
      for (const box of element.querySelectorAll("input[type=checkbox][data-type]")) {
        if (!box.checked || box.disabled) continue;
        const key = `${box.dataset.organization}|${box.dataset.department}`;
        if (!rows.has(key)) {
          rows.set(key, { organization_id: box.dataset.organization, department_id: box.dataset.department || null,
                          cert_types: [] });
        }
        rows.get(key).cert_types.push(box.dataset.type);
      }
      return [...rows.values()];
    },
    reset() {
      for (const box of element.querySelectorAll("input[type=checkbox][data-type]")) box.checked = false;
    },
  };
}

// ---- the delegations of one domain or network, with their actions -----------------------------------------
// base: "/api/v1/domains/<id>"; onChanged(answer) re-renders with the object the API answered.
export function delegationsTable({ names, me, found, base, onChanged, testid = "delegation-rows" }) {
  const decide = (d, approve) => async () => {
    let json;
    if (!approve) {
      const reason = h("input", { "aria-label": "Reason (optional)", maxlength: 1024, "data-testid": "reject-reason" });
      const body = h("div", { class: "field" }, h("label", {}, "Reason (optional)", reason));
      if (!(await confirmDialog(`Reject the delegation to ${names.where(d)}?`, { confirmLabel: "Reject", body }))) {
        return undefined;
      }
      json = reason.value ? { reason: reason.value } : undefined;
    }
    const answer = await api("POST", `${base}/delegations/${d.delegation_id}/${approve ? "approve" : "reject"}`,
                             json ? { json } : {});
    onChanged(answer, approve ? `The delegation to ${names.where(d)} is approved.`
                              : `The delegation to ${names.where(d)} is rejected.`);
    return undefined;
  };
  return table({
    testid,
    columns: [
      { label: "Organization / department", value: (d) => names.where(d) },
      { label: "Certificate types", value: (d) => typeWords(d.cert_types) },
      { label: "Status", value: (d) => [badge(d.status), d.reason ? h("span", { class: "muted" }, ` ${d.reason}`) : null] },
      { label: "Requested by", value: (d) => (d.requested_by === me.admin_id ? "you" : h("code", {}, d.requested_by)) },
      { label: "Actions", value: (d) => h("div", { class: "actions" },
        mayDecide(me, d) ? actionButton("Approve", decide(d, true), { kind: "primary", testid: "delegation-approve" })
          : null,
        mayDecide(me, d) ? actionButton("Reject", decide(d, false), { kind: "danger", testid: "delegation-reject" })
          : null,
        d.status === "requested" && d.requested_by === me.admin_id
          ? h("span", { class: "muted" }, "waiting for another approver") : null,
        mayDelegate(me, d.organization_id, d.department_id, d.cert_types)
          ? actionButton("Remove", async () => {
            const answer = await api("DELETE", `${base}/delegations/${d.delegation_id}`);
            onChanged(answer, `The delegation to ${names.where(d)} is removed.`);
          }, { kind: "danger", testid: "delegation-remove", confirm: `Remove the delegation to ${names.where(d)}?` })
          : null) },
    ],
    rows: found.delegations,
    empty: "No delegations you can see.",
  });
}

// Add one or more delegations (the grid) to an existing object: one POST per grid row (the API takes one).
export function addDelegations({ names, me, base, onChanged, testid = "delegation-add" }) {
  const grid = delegationGrid(names, me, { testid: `${testid}-grid`, legend: "New delegation" });
  const result = h("div", { class: "outcome", "aria-live": "polite" });
  const button = h("button", { type: "submit", class: "primary" }, "Add delegation");
  const element = h("form", { class: "form", "data-testid": testid, novalidate: true }, grid.element,
                    h("div", { class: "actions" }, button), result);
  element.addEventListener("submit", async (event) => {
    event.preventDefault();
    const rows = grid.delegations();
    result.replaceChildren();
    if (!rows.length) {
      result.append(notice("Tick at least one certificate type for an organization or department.", "error"));
      return;
    }
    button.disabled = true;
    let answer = null;
    try {
      for (const row of rows) answer = await api("POST", `${base}/delegations`, { json: row });
      onChanged(answer, "Delegation added: its status is shown below.");
    } catch (error) {
      result.append(errorBox(error));
      if (answer) result.append(notice("The rows before this one were added; reload the page to see them.", "info"));
    } finally {
      button.disabled = false;
    }
  });
  return element;
}
