// The dashboard (GET /api/v1/dashboard): certificates by status, the expiry timeline per organization, what waits
// for me, domains by DCV status and evidence about to expire. Every bar, segment and count is a link to the list
// filtered to exactly what it counts (the list's X-Total-Count is the number shown). Charts are SVG drawn here;
// each chart also has its numbers as a table of links, for keyboards and screen readers. Live: refreshed every
// 10 s in the background while shown.
import { api } from "../api.js";
import { hrefOf, screen } from "../router.js";
import { clear, fmtDate, h, link, section } from "../ui.js";
import { hasType, isMrao } from "../session.js";

const SVG = "http://www.w3.org/2000/svg";
// `failed` (issue 13): recorded, then refused by the CA — waits for a retry or a decline
const STATUS_ORDER = ["requested", "approved", "applied", "failed", "issued", "downloaded", "declined", "revoked",
                      "expired"];
const STATUS_COLOURS = { requested: "#a06b00", approved: "#7c5800", applied: "#5b4a00", failed: "#c2410c",
                         issued: "#146c2e", downloaded: "#0d5a26", declined: "#6b7280", revoked: "#b3261e",
                         expired: "#7a1610" };
const BUCKETS = [["expired", "Expired", "#b3261e"], ["within_7", "≤ 7 days", "#c2410c"],
                 ["within_30", "8–30 days", "#a06b00"], ["within_90", "31–90 days", "#0b57d0"]];
const DCV_ORDER = ["validated", "submitted", "not_validated", "expired"];
const DCV_COLOURS = { validated: "#146c2e", submitted: "#a06b00", not_validated: "#6b7280", expired: "#b3261e" };

function svg(tag, attrs = {}, ...children) {
  const element = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value !== undefined && value !== null) element.setAttribute(key, String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

// One horizontal bar per item: [{label, count, href, colour}] — each bar a link.
function barChart(items, { testid, unit }) {
  const rowHeight = 28;
  const width = 520;
  const labelWidth = 130;
  const max = Math.max(1, ...items.map((i) => i.count));
  const chart = svg("svg", { viewBox: `0 0 ${width} ${items.length * rowHeight + 4}`, role: "group",
                             "aria-label": testid, "data-testid": testid },
    items.map((item, index) => {
      const y = index * rowHeight + 2;
      const barWidth = Math.max(item.count ? 3 : 0, ((width - labelWidth - 60) * item.count) / max);
      return svg("a", { href: item.href, "aria-label": `${item.label}: ${item.count} ${unit}`,
                        "data-segment": item.key },
        svg("title", {}, `${item.label}: ${item.count} ${unit}`),
        svg("text", { x: 0, y: y + 18, "font-size": 14, fill: "#1b1f24" }, item.label),
        svg("rect", { x: labelWidth, y: y + 4, width: barWidth, height: 18, rx: 3, fill: item.colour }),
        svg("text", { x: labelWidth + barWidth + 6, y: y + 18, "font-size": 14, fill: "#1b1f24",
                      "font-weight": 700 }, String(item.count)));
    }));
  return h("div", { class: "chart" }, chart);
}

// The expiry timeline: one stacked bar per organization, a segment per bucket, each a link.
function expiryChart(rows, windows) {
  const rowHeight = 34;
  const width = 620;
  const labelWidth = 170;
  const max = Math.max(1, ...rows.map((r) => BUCKETS.reduce((sum, [key]) => sum + r[key], 0)));
  const chart = svg("svg", { viewBox: `0 0 ${width} ${Math.max(1, rows.length) * rowHeight + 4}`, role: "group",
                             "aria-label": "expiry timeline per organization", "data-testid": "expiry-chart" },
    rows.map((row, index) => {
      const y = index * rowHeight + 2;
      let x = labelWidth;
      const name = row.organization_name || "organization";
      const segments = BUCKETS.filter(([key]) => row[key] > 0).map(([key, label, colour]) => {
        const w = Math.max(4, ((width - labelWidth - 10) * row[key]) / max);
        const segment = svg("a", { href: bucketHref(windows, key, row.organization_id),
                                   "aria-label": `${name}, ${label}: ${row[key]} certificates`, "data-segment": key },
          svg("title", {}, `${name}, ${label}: ${row[key]}`),
          svg("rect", { x, y: y + 6, width: w, height: 22, fill: colour }),
          w > 22 ? svg("text", { x: x + w / 2, y: y + 22, "text-anchor": "middle", "font-size": 13, fill: "#fff",
                                  "font-weight": 700 }, String(row[key])) : null);
        x += w;
        return segment;
      });
      return svg("g", {}, svg("text", { x: 0, y: y + 22, "font-size": 14, fill: "#1b1f24" },
                              name.length > 22 ? `${name.slice(0, 21)}…` : name), segments);
    }));
  const legend = h("ul", { class: "legend" }, BUCKETS.map(([, label, colour]) =>
    h("li", {}, h("span", { class: `swatch swatch-${colour.slice(1)}` }), label)));
  return h("div", { class: "chart" }, chart, legend);
}

export function bucketHref(windows, key, organizationId) {
  const window = windows[key] || {};
  const filter = (window.filters || [])[0] || {};
  return hrefOf("/ssl", { organization_id: organizationId, ...filter });
}

function countLink(count, href, label, testid) {
  return h("div", { class: "count" },
    h("a", { href, class: "count-link", "data-testid": testid, "aria-label": `${label}: ${count}` }, String(count)),
    h("div", { class: "muted" }, label));
}

function waitingSection(waiting, me) {
  const items = [];
  if (hasType(me, "ssl")) {
    items.push(countLink(waiting.ssl_requests.count, hrefOf("/ssl", { status: "requested" }),
                         "SSL requests to approve", "waiting-ssl"));
  }
  items.push(countLink(waiting.domain_delegations.count, hrefOf("/domains", { delegation_status: "requested" }),
                       "domain delegations to approve", "waiting-domains"));
  items.push(countLink(waiting.network_delegations.count, hrefOf("/networks", { delegation_status: "requested" }),
                       "network delegations to approve", "waiting-networks"));
  if (isMrao(me)) {
    items.push(countLink(waiting.admins.count, hrefOf("/admins", { status: "pending_approval" }),
                         "administrators to approve", "waiting-admins"));
  }
  return section("Waiting for me", h("div", { class: "counts", "data-testid": "waiting" }, items));
}

function statusTable(rows) {
  return h("table", { class: "numbers" }, h("tbody", {}, rows.map(([label, count, href, testid]) =>
    h("tr", {}, h("th", { scope: "row" }, label), h("td", {}, link(href, String(count), { "data-testid": testid }))))));
}

function render(ctx, data) {
  const parts = [h("div", { class: "page-head" }, h("h1", {}, "Dashboard"),
                   h("span", { class: "muted", "data-testid": "generated-at" }, `as of ${fmtDate(data.generated_at)}`))];
  parts.push(waitingSection(data.waiting_for_me, ctx.me));
  if (hasType(ctx.me, "ssl")) {
    const statuses = STATUS_ORDER.map((status) => ({ key: status, label: status, count: data.ssl_by_status[status] || 0,
      href: hrefOf("/ssl", { status }), colour: STATUS_COLOURS[status] }));
    parts.push(h("div", { class: "grid" },
      section("SSL certificates by status", barChart(statuses, { testid: "ssl-status-chart", unit: "certificates" }),
        h("details", {}, h("summary", {}, "As a table"),
          statusTable(statuses.map((s) => [s.label, s.count, s.href, `ssl-status-${s.key}`])))),
      section("Expiry timeline",
        data.expiry.length ? expiryChart(data.expiry, data.expiry_windows)
          : h("p", { class: "muted" }, "No issued certificates yet."),
        data.expiry.length ? h("table", { class: "numbers", "data-testid": "expiry-table" },
          h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Organization"),
            BUCKETS.map(([, label]) => h("th", { scope: "col" }, label)))),
          h("tbody", {}, data.expiry.map((row) => h("tr", {},
            h("th", { scope: "row" }, row.organization_name || ""),
            BUCKETS.map(([key]) => h("td", {}, link(bucketHref(data.expiry_windows, key, row.organization_id),
              String(row[key]), { "data-testid": `expiry-${key}` }))))))) : null)));
  }
  const dcv = DCV_ORDER.map((status) => ({ key: status, label: status.replaceAll("_", " "),
    count: data.domains_by_dcv_status[status] || 0, href: hrefOf("/domains", { dcv_status: status }),
    colour: DCV_COLOURS[status] }));
  const evidence = data.evidence_expiring;
  parts.push(section("Domains by DCV status", barChart(dcv, { testid: "dcv-chart", unit: "domains" }),
    h("p", {}, link(hrefOf("/domains", evidence.filters), `${evidence.count}`, { "data-testid": "evidence-expiring",
                                                                                class: "count-inline" }),
      ` domain${evidence.count === 1 ? "" : "s"} with DCV evidence expiring within ${evidence.days} days`)));
  clear(ctx.main, ...parts);
}

screen({
  path: "/",
  title: "Dashboard",
  nav: { label: "Dashboard", order: 0, badge: true },
  async render(ctx) {
    render(ctx, await api("GET", "/api/v1/dashboard"));
    ctx.poll(async () => {
      const data = await api("GET", "/api/v1/dashboard", { background: true });
      const focused = document.activeElement && document.activeElement.dataset ? document.activeElement.dataset.testid : null;
      render(ctx, data);
      if (focused) {
        const again = ctx.main.querySelector(`[data-testid="${focused}"]`);
        if (again) again.focus();
      }
    }, 10_000);
  },
});
