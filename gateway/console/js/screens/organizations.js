// Organizations and departments (SCM: Settings > Organizations): the list, Add, the organization's page with
// Edit, Validate (start / complete), its departments (add, rename, delete) and Delete. Creating, changing,
// validating and deleting are MRAO's (the server says so too); an RAO sees its own organizations only.
import { api } from "../api.js";
import { hrefOf, navigate, screen } from "../router.js";
import { actionButton, badge, clear, confirmDialog, definitionList, field, fmtDate, form, h, link, notice, pager,
         section, table } from "../ui.js";
import { isMrao } from "../session.js";
import { escrowSection } from "./key-escrow.js";

const PAGE = 25;

// What the delete refusals mean, in words an administrator can act on (the API's message is shown as well).
export const DEPENDENCY_WORDS = {
  has_dependents: "The departments listed below belong to it: delete them on this page first, then the organization.",
};

function explained(error) {
  const words = DEPENDENCY_WORDS[error.code];
  if (words) error.message = `${error.message} — ${words}`;
  return error;
}

function addressFields(values = {}, locked = false) {
  return [
    field({ name: "address1", label: "Address 1", required: true, value: values.address1, readOnly: locked }),
    field({ name: "address2", label: "Address 2", value: values.address2, readOnly: locked }),
    field({ name: "address3", label: "Address 3", value: values.address3, readOnly: locked }),
    h("div", { class: "row" },
      field({ name: "city", label: "City", required: true, value: values.city, readOnly: locked }),
      field({ name: "state", label: "State or province", required: true, value: values.state, readOnly: locked })),
    h("div", { class: "row" },
      field({ name: "postal_code", label: "Postal code", value: values.postal_code, readOnly: locked }),
      field({ name: "country", label: "Country (ISO 3166, two letters)", required: true, value: values.country,
              maxlength: 2, readOnly: locked })),
  ];
}

function organizationBody(values) {
  const body = {};
  for (const key of ["name", "address1", "address2", "address3", "city", "state", "postal_code", "country"]) {
    if (values[key] !== undefined) body[key] = values[key];
  }
  if (body.country) body.country = body.country.toUpperCase();
  return body;
}

screen({
  path: "/organizations",
  title: "Organizations",
  nav: { label: "Organizations", order: 10 },
  async render(ctx) {
    const query = { q: ctx.query.q, validation_status: ctx.query.validation_status,
                    position: Number(ctx.query.position || 0), size: PAGE };
    const found = await api("GET", "/api/v1/organizations", { query });
    const filters = form({
      testid: "organization-filters",
      submitLabel: "Filter",
      fields: [h("div", { class: "row" },
        field({ name: "q", label: "Name contains", value: ctx.query.q }),
        field({ name: "validation_status", label: "Validation", type: "select", value: ctx.query.validation_status,
                options: [["", "Any"], ["not_validated", "not validated"], ["pending", "pending"],
                          ["validated", "validated"], ["failed", "failed"], ["expired", "expired"]] }))],
      onSubmit: async (values) => navigate("/organizations", values),
    });
    clear(ctx.main,
      h("div", { class: "page-head" }, h("h1", {}, "Organizations"),
        ctx.isMrao ? link("#/organizations/new", "Add organization", { class: "button primary" }) : null),
      filters,
      table({
        testid: "organization-rows",
        columns: [
          { label: "Name", value: (o) => link(`#/organizations/${o.organization_id}`, o.name) },
          { label: "City", value: (o) => o.city },
          { label: "Country", value: (o) => o.country },
          { label: "Validation", value: (o) => badge(o.validation_status) },
          { label: "Departments", value: (o) => String(o.department_count) },
        ],
        rows: found.items,
        empty: "No organizations yet.",
      }),
      pager({ total: found.total, position: query.position, size: PAGE,
              onChange: (position) => navigate("/organizations", { ...ctx.query, position }) }));
  },
});

screen({
  path: "/organizations/new",
  title: "Add organization",
  async render(ctx) {
    clear(ctx.main, h("h1", {}, "Add organization"), section(null, form({
      testid: "organization-form",
      submitLabel: "Add organization",
      fields: [field({ name: "name", label: "Name", required: true, maxlength: 64 }), ...addressFields(),
        h("fieldset", {}, h("legend", {}, "Key escrow for client certificates (fixed once created)"),
          field({ name: "escrow", label: "Escrow the private keys of client certificates", type: "checkbox" }),
          field({ name: "recovery_by_mrao", label: "Keys can be recovered by MRAO administrators", type: "checkbox" }),
          field({ name: "recovery_by_organization_admins", label: "Keys can be recovered by this organization's administrators",
                  type: "checkbox" }))],
      onSubmit: async (values) => {
        const created = await api("POST", "/api/v1/organizations", { json: {
          ...organizationBody(values),
          key_escrow: { enabled: values.escrow, recovery_by_mrao: values.recovery_by_mrao,
                        recovery_by_organization_admins: values.recovery_by_organization_admins } } });
        navigate(`/organizations/${created.organization_id}`);
      },
    })));
  },
});

screen({
  path: "/organizations/:id",
  title: "Organization",
  async render(ctx) {
    const id = ctx.params.id;
    const org = await api("GET", `/api/v1/organizations/${id}`);
    const mrao = isMrao(ctx.me);
    const pending = org.validation_status === "pending";
    const parts = [
      h("div", { class: "page-head" }, h("h1", {}, org.name), badge(org.validation_status)),
      definitionList([["Address", [org.address1, org.address2, org.address3].filter(Boolean).join(", ")],
                      ["City", org.city], ["State", org.state], ["Postal code", org.postal_code],
                      ["Country", org.country],
                      ["Key escrow", org.key_escrow.enabled ? "client keys escrowed" : "off"],
                      ["Created", fmtDate(org.created_at)], ["Changed", fmtDate(org.updated_at)]]),
      h("p", {}, link(hrefOf("/ssl", { organization_id: id }), "SSL certificates of this organization"), " · ",
        link(hrefOf("/domains", { organization_id: id }), "Domains delegated to it")),
    ];
    if (mrao) {
      parts.push(section("Validation", h("p", {}, "Validation status: ", badge(org.validation_status)),
        pending ? notice("Validation is pending: the address is locked until it completes.", "info") : null,
        h("div", { class: "actions" },
          actionButton(pending || org.validation_status === "not_validated" ? "Start validation" : "Revalidate",
            async () => { await api("POST", `/api/v1/organizations/${id}/validation/start`); ctx.refresh(); },
            { testid: "validation-start" }),
          pending ? actionButton("Mark validated", async () => {
            await api("POST", `/api/v1/organizations/${id}/validation/complete`, { json: { outcome: "validated" } });
            ctx.refresh();
          }, { kind: "primary", testid: "validation-validated" }) : null,
          pending ? actionButton("Mark failed", async () => {
            await api("POST", `/api/v1/organizations/${id}/validation/complete`, { json: { outcome: "failed" } });
            ctx.refresh();
          }, { testid: "validation-failed" }) : null)));
      parts.push(section("Edit", form({
        testid: "organization-edit",
        fields: [field({ name: "name", label: "Name", required: true, value: org.name, maxlength: 64 }),
                 ...addressFields(org, pending)],
        onSubmit: async (values) => {
          const changes = organizationBody(values);
          if (pending) for (const k of ["address1", "address2", "address3", "city", "state", "postal_code", "country"]) delete changes[k];
          await api("PATCH", `/api/v1/organizations/${id}`, { json: changes });
          ctx.refresh();
          return "Saved.";
        },
      })));
    }
    const escrow = escrowSection(ctx, org);
    if (escrow) parts.push(escrow);
    parts.push(section("Departments", departments(ctx, org, mrao)));
    if (mrao) {
      parts.push(section("Delete", h("p", {}, "An organization can be deleted when nothing belongs to it any more."),
        actionButton("Delete organization", async () => {
          try {
            await api("DELETE", `/api/v1/organizations/${id}`);
          } catch (error) {
            throw explained(error);
          }
          navigate("/organizations");
        }, { kind: "danger", testid: "organization-delete", confirm: `Delete the organization ${org.name}?` })));
    }
    clear(ctx.main, ...parts);
  },
});

function departments(ctx, org, mrao) {
  const id = org.organization_id;
  const rows = table({
    testid: "department-rows",
    columns: [
      { label: "Department", value: (d) => d.name },
      { label: "Created", value: (d) => fmtDate(d.created_at) },
      { label: "", value: (d) => (mrao ? h("div", { class: "actions" },
        actionButton("Rename", async () => {
          const input = h("input", { value: d.name, "aria-label": "New name", maxlength: 64 });
          if (!(await confirmDialog(`Rename the department ${d.name}`, { confirmLabel: "Rename", body: input }))) return;
          await api("PATCH", `/api/v1/organizations/${id}/departments/${d.department_id}`, { json: { name: input.value } });
          ctx.refresh();
        }),
        actionButton("Delete", async () => {
          try {
            await api("DELETE", `/api/v1/organizations/${id}/departments/${d.department_id}`);
          } catch (error) {
            throw explained(error);
          }
          ctx.refresh();
        }, { kind: "danger", confirm: `Delete the department ${d.name}?` })) : null) },
    ],
    rows: org.departments,
    empty: "No departments.",
  });
  const add = mrao ? form({
    testid: "department-form",
    submitLabel: "Add department",
    fields: [field({ name: "name", label: "New department name", required: true, maxlength: 64 })],
    onSubmit: async (values, element) => {
      await api("POST", `/api/v1/organizations/${id}/departments`, { json: { name: values.name } });
      element.reset();
      ctx.refresh();
    },
  }) : null;
  return [rows, add];
}
