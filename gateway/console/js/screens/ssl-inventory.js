// The SSL inventory (SCM: Certificates > SSL Certificates): server-side paging, the filters in the URL query
// (#/ssl?status=issued&organization_id=…&expires_after=…&expires_before=…, so the dashboard links here), sortable
// columns, the CSV export of exactly these filters, and live statuses while a row on the page is in progress.
// `failed` (issue 13: recorded, then refused by the CA) is a status like the others: filter, badge, sort.
// `requested_by=acme:<id>` (issue 14: an ACME account's page links here) lists what its clients got, and says so.
import { api, urlOf } from "../api.js";
import { hrefOf, navigate, screen } from "../router.js";
import { clear, daysUntil, field, fmtDate, form, h, link, pager, table } from "../ui.js";
import { hasType, isMrao } from "../session.js";
import { Directory, PENDING, POLL_MS, STATUSES, dateOfIso, displayName, isoOfDate, sslBadge,
         statusWords } from "./ssl-parts.js";

const PAGE = 25;
const FILTERS = ["status", "q", "organization_id", "department_id", "profile_id", "expires_after", "expires_before",
                 "requested_by", "sort"];
const ACME_REQUESTER = /^acme:([0-9a-f-]{36})$/;

export function sslVisible(me) {
  return isMrao(me) || hasType(me, "ssl");
}

function filtersOf(query) {
  const out = {};
  for (const key of FILTERS) if (query[key]) out[key] = query[key];
  return out;
}

screen({
  path: "/ssl",
  title: "SSL certificates",
  nav: { label: "SSL certificates", order: 50, visible: sslVisible },
  async render(ctx) {
    const filters = filtersOf(ctx.query);
    const position = Number(ctx.query.position || 0);
    const [directory, found] = await Promise.all([
      Directory.load(),
      api("GET", "/api/v1/ssl", { query: { ...filters, position, size: PAGE } }),
    ]);
    await directory.loadDepartments([...found.items.map((s) => s.organization_id),
                                     ...(filters.organization_id ? [filters.organization_id] : [])]);

    const departments = filters.organization_id ? await directory.departmentsOf(filters.organization_id) : [];
    const filterForm = form({
      testid: "ssl-filters",
      submitLabel: "Filter",
      fields: [
        h("div", { class: "row" },
          field({ name: "q", label: "Name or serial contains", value: filters.q, testid: "ssl-filter-q",
                  help: "part of the common name, a SAN or the serial (hex, colons optional)" }),
          field({ name: "status", label: "Status", type: "select", value: filters.status, testid: "ssl-filter-status",
                  options: [["", "Any"], ...STATUSES.map((s) => [s, statusWords(s)])] }),
          field({ name: "profile_id", label: "Profile", type: "select", value: filters.profile_id,
                  testid: "ssl-filter-profile",
                  options: [["", "Any"], ...directory.sslProfiles().map((p) => [p.profile_id, p.name])] })),
        h("div", { class: "row" },
          field({ name: "organization_id", label: "Organization", type: "select", value: filters.organization_id,
                  testid: "ssl-filter-organization",
                  options: [["", "Any"], ...directory.sortedOrganizations().map((o) => [o.organization_id, o.name])] }),
          field({ name: "department_id", label: "Department", type: "select", value: filters.department_id,
                  testid: "ssl-filter-department",
                  options: [["", filters.organization_id ? "Any" : "Any (choose an organization first)"],
                            ...departments.map((d) => [d.department_id, d.name])] }),
          field({ name: "expires_after", label: "Expires after", type: "date", testid: "ssl-filter-expires-after",
                  value: dateOfIso(filters.expires_after) }),
          field({ name: "expires_before", label: "Expires before", type: "date", testid: "ssl-filter-expires-before",
                  value: dateOfIso(filters.expires_before) })),
      ],
      secondary: [link(hrefOf("/ssl"), "Clear filters", { class: "button" })],
      onSubmit: async (values) => {
        const next = { ...values, sort: filters.sort, requested_by: filters.requested_by };
        next.expires_after = isoOfDate(values.expires_after, filters.expires_after);
        next.expires_before = isoOfDate(values.expires_before, filters.expires_before);
        if (next.organization_id !== filters.organization_id) {
          // a department belongs to one organization: a new organization starts with any department
          if (values.department_id && !departments.some((d) => d.department_id === values.department_id)) {
            delete next.department_id;
          }
          if (!next.organization_id) delete next.department_id;
        }
        navigate("/ssl", next);
      },
    });
    // a department of the organization chosen now is offered once the filter applies the organization
    const orgSelect = filterForm.querySelector("select[name=organization_id]");
    const deptSelect = filterForm.querySelector("select[name=department_id]");
    orgSelect.addEventListener("change", async () => {
      const list = await directory.departmentsOf(orgSelect.value);
      clear(deptSelect, h("option", { value: "" }, orgSelect.value ? "Any" : "Any (choose an organization first)"),
            list.map((d) => h("option", { value: d.department_id }, d.name)));
    });

    const tableHolder = h("div", { class: "ssl-table" });
    const pagerHolder = h("div");
    const drawTable = (page) => {
      clear(tableHolder, table({
        testid: "ssl-rows",
        caption: "SSL certificates",
        sort: filters.sort || "-created_at",
        onSort: (sort) => navigate("/ssl", { ...filters, sort }),
        columns: [
          { label: "Common name", sort: "common_name",
            value: (s) => link(`#/ssl/${s.ssl_id}`, displayName(s), { "data-testid": "ssl-row-link" }) },
          { label: "SANs", value: (s) => sansCell(s.sans) },
          { label: "Organization / department", value: (s) => directory.placeOf(s) },
          { label: "Profile", value: (s) => directory.profileName(s.profile_id) },
          { label: "Status", sort: "status", value: (s) => h("span", { "data-testid": "ssl-row-status" }, sslBadge(s.status)) },
          { label: "Expires", sort: "not_after", value: (s) => expiresCell(s.not_after) },
          { label: "Serial", sort: "serial", value: (s) => (s.serial ? h("code", { class: "ssl-serial" }, s.serial) : "—") },
          { label: "Requested", sort: "created_at", value: (s) => fmtDate(s.created_at) },
        ],
        rows: page.items,
        empty: Object.keys(filters).some((k) => k !== "sort") ? "No certificate matches these filters."
          : "No SSL certificates yet.",
      }));
      clear(pagerHolder, pager({ total: page.total, position, size: PAGE,
                                 onChange: (p) => navigate("/ssl", { ...filters, position: p }) }));
    };
    drawTable(found);

    const exportFilters = { ...filters };
    clear(ctx.main,
      h("div", { class: "page-head" }, h("h1", {}, "SSL certificates"),
        h("div", { class: "actions" },
          link(urlOf("/api/v1/ssl/export", exportFilters), "Export CSV",
               { class: "button", "data-testid": "ssl-export", download: "certplane-ssl.csv" }),
          link("#/ssl/new", "Request certificate", { class: "button primary", "data-testid": "ssl-request" }))),
      requesterNote(filters),
      filterForm,
      h("p", { class: "muted", "data-testid": "ssl-total", "aria-live": "polite" },
        `${found.total} certificate${found.total === 1 ? "" : "s"} match.`),
      tableHolder, pagerHolder);

    // live: while a row of this page is requested, approved or applied, read the page again every 5 s
    let current = found;
    ctx.poll(async () => {
      if (!current.items.some((s) => PENDING.has(s.status))) return;
      const again = await api("GET", "/api/v1/ssl", { query: { ...filters, position, size: PAGE }, background: true });
      const before = current.items.map((s) => `${s.ssl_id}:${s.status}`).join();
      const after = again.items.map((s) => `${s.ssl_id}:${s.status}`).join();
      current = again;
      if (before !== after) {
        await directory.loadDepartments(again.items.map((s) => s.organization_id));
        drawTable(again);
      }
    }, POLL_MS);
  },
});

// #/ssl?requested_by=acme:<id> (an ACME account's page links here): say so, with the way back and out
function requesterNote(filters) {
  if (!filters.requested_by) return null;
  const acme = ACME_REQUESTER.exec(filters.requested_by);
  const rest = { ...filters };
  delete rest.requested_by;
  return h("div", { class: "alert info", role: "status", "data-testid": "ssl-requested-by" },
    acme ? ["Certificates requested through ", link(`#/acme-accounts/${acme[1]}`, "an ACME account"), ". "]
      : [`Certificates requested by ${filters.requested_by}. `],
    link(hrefOf("/ssl", rest), "Show every certificate"));
}

function sansCell(sans) {
  if (!sans || sans.length === 0) return "—";
  const shown = sans.slice(0, 3).join(", ");
  return sans.length > 3 ? h("span", { title: sans.join(", ") }, `${shown} (+${sans.length - 3} more)`) : shown;
}

function expiresCell(notAfter) {
  if (!notAfter) return "—";
  const days = daysUntil(notAfter);
  const words = days < 0 ? `expired ${-days} day${days === -1 ? "" : "s"} ago` : `in ${days} day${days === 1 ? "" : "s"}`;
  return h("span", { class: days < 0 ? "ssl-expired" : days <= 30 ? "ssl-expiring" : null },
    fmtDate(notAfter), h("br"), h("span", { class: "muted" }, words));
}
