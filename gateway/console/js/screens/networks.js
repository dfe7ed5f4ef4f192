// IP networks (DESIGN §1: the ranges an IP address in a private TLS certificate may come from): the list, Add
// network with the delegation grid, and the network's page (details, edit, delegations with approve / reject /
// remove, delete). Delegated exactly as domains are (domains-parts.js); no DCV exists for a network.
import { api } from "../api.js";
import { navigate, screen } from "../router.js";
import { actionButton, badge, clear, definitionList, field, fmtDate, form, h, link, notice, pager, section,
         table } from "../ui.js";
import { isMrao } from "../session.js";
import { Names, addDelegations, delegationGrid, delegationSummary, delegationsTable, mayChange } from "./domains-parts.js";

const PAGE = 25;
const WORDS = {
  network_in_use: "The network is still delegated: remove its delegations first, then delete it.",
  overlapping_network: "It overlaps a network that exists (contains it, lies in it, or is it).",
  network_host_bits: "Host bits are set: use the network address, e.g. 10.20.0.0/16.",
  network_too_broad: "At most a /8 (IPv4) or a /16 (IPv6) can be delegated.",
  invalid_network: "Write the network in CIDR notation, e.g. 10.20.0.0/16 or fd00:1::/48.",
  own_request: "You requested this delegation yourself: another approver must decide it.",
};

function explained(error) {
  const words = WORDS[error.code];
  if (words && !String(error.message).includes(words)) error.message = `${error.message} — ${words}`;
  return error;
}

screen({
  path: "/networks",
  title: "Networks",
  nav: { label: "Networks", order: 41 },
  async render(ctx) {
    const position = Number(ctx.query.position || 0);
    const [found, names] = await Promise.all([
      api("GET", "/api/v1/networks", { query: { ...ctx.query, position, size: PAGE } }), new Names().load()]);
    await names.forDelegations(found.items.flatMap((n) => n.delegations));
    clear(ctx.main,
      h("div", { class: "page-head" }, h("h1", {}, "Networks"),
        link("#/networks/new", "Add network", { class: "button primary", "data-testid": "network-add" })),
      h("p", { class: "muted" }, "IP networks delegated to organizations: an IP address in a private TLS " +
                                 "certificate must lie in one delegated (approved, active) to the requester."),
      form({
        testid: "network-filters",
        submitLabel: "Filter",
        fields: [h("div", { class: "row filters" },
          field({ name: "q", label: "CIDR contains", value: ctx.query.q }),
          field({ name: "contains", label: "Holds the IP address", value: ctx.query.contains }),
          field({ name: "organization_id", label: "Organization", type: "select", value: ctx.query.organization_id,
                  options: [["", "Any"], ...names.organizations.map((o) => [o.organization_id, o.name])] }),
          field({ name: "delegation_status", label: "Delegation status", type: "select",
                  value: ctx.query.delegation_status,
                  options: [["", "Any"], ["requested", "requested"], ["approved", "approved"], ["rejected", "rejected"]] }),
          field({ name: "active", label: "Active", type: "select", value: ctx.query.active,
                  options: [["", "Any"], ["true", "active"], ["false", "inactive"]] }))],
        onSubmit: async (values) => navigate("/networks", values),
      }),
      table({
        testid: "network-rows",
        columns: [
          { label: "Network", value: (n) => link(`#/networks/${n.network_id}`, n.cidr) },
          { label: "IP version", value: (n) => `IPv${n.ip_version}` },
          { label: "Active", value: (n) => badge(n.active ? "active" : "inactive") },
          { label: "Delegations", value: (n) => delegationSummary(names, n.delegations) },
          { label: "Description", value: (n) => n.description || "" },
        ],
        rows: found.items,
        empty: "No networks match.",
      }),
      pager({ total: found.total, position, size: PAGE,
              onChange: (next) => navigate("/networks", { ...ctx.query, position: next }) }));
  },
});

screen({
  path: "/networks/new",
  title: "Add network",
  async render(ctx) {
    const names = await new Names().load();
    const grid = delegationGrid(names, ctx.me, { testid: "network-grid" });
    clear(ctx.main, h("h1", {}, "Add network"), section(null, form({
      testid: "network-form",
      submitLabel: "Add network",
      fields: [
        field({ name: "cidr", label: "Network (CIDR)", required: true, maxlength: 100,
                help: "e.g. 10.20.0.0/16 or fd00:1::/48; host bits zero; at most /8 (IPv4) or /16 (IPv6)." }),
        field({ name: "description", label: "Description", type: "textarea", rows: 2 }),
        field({ name: "active", label: "Active (certificates may name its addresses)", type: "checkbox", value: true }),
      ],
      extra: [grid.element],
      onSubmit: async (values) => {
        const delegations = grid.delegations();
        if (!delegations.length && !isMrao(ctx.me)) {
          throw { message: "Tick at least one certificate type for one of your organizations or departments." };
        }
        let created;
        try {
          created = await api("POST", "/api/v1/networks", { json: {
            cidr: values.cidr, description: values.description || null, active: values.active, delegations } });
        } catch (error) {
          throw explained(error);
        }
        navigate(`/networks/${created.network_id}`);
      },
    })));
  },
});

screen({
  path: "/networks/:id",
  title: "Network",
  async render(ctx) {
    const base = `/api/v1/networks/${ctx.params.id}`;
    const [first, names] = await Promise.all([api("GET", base), new Names().load()]);
    const flash = h("div", { class: "outcome", "aria-live": "polite", "data-testid": "network-flash" });
    const body = h("div", {});
    const show = async (network, message) => {
      await names.forDelegations(network.delegations);
      clear(flash, message ? notice(message, "success") : null);
      clear(body, ...page(network));
    };
    const page = (network) => {
      const changeable = mayChange(ctx.me, network);
      const parts = [
        h("div", { class: "page-head" }, h("h1", {}, network.cidr), badge(network.active ? "active" : "inactive")),
        definitionList([["Description", network.description], ["IP version", `IPv${network.ip_version}`],
                        ["Active", network.active ? "yes" : "no"], ["Created", fmtDate(network.created_at)],
                        ["Changed", fmtDate(network.updated_at)]]),
      ];
      if (changeable) {
        parts.push(section("Edit", form({
          testid: "network-edit",
          fields: [field({ name: "description", label: "Description", type: "textarea", rows: 2,
                           value: network.description || "" }),
                   field({ name: "active", label: "Active (certificates may name its addresses)", type: "checkbox",
                           value: network.active })],
          onSubmit: async (values) => {
            const answer = await api("PATCH", base, { json: { description: values.description || null,
                                                              active: values.active } });
            await show(answer, "Saved.");
          },
        })));
      }
      const changed = (answer, message) => show(answer, message);
      parts.push(section("Delegations",
        delegationsTable({ names, me: ctx.me, found: network, base, onChanged: changed }),
        h("h3", {}, "Add a delegation"),
        addDelegations({ names, me: ctx.me, base, onChanged: changed, testid: "network-delegation-add" })));
      if (changeable) {
        parts.push(section("Delete",
          h("p", {}, "A network can be deleted once it is no longer delegated: remove its delegations first."),
          actionButton("Delete network", async () => {
            try {
              await api("DELETE", base);
            } catch (error) {
              throw explained(error);
            }
            navigate("/networks");
          }, { kind: "danger", testid: "network-delete", confirm: `Delete the network ${network.cidr}?` })));
      }
      return parts;
    };
    clear(ctx.main, flash, body);
    await show(first, null);
  },
});
