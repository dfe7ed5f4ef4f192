// Administrators (SCM: Settings > Admins): the list with a status filter, Add admin (profile, password, privileges,
// and the role grid of organizations/departments × certificate types), the admin's page (details, edit, roles and
// privileges, approve, suspend / reactivate, set a password, delete) and API keys (shown once). "My account" is
// every admin's own page (their API keys). The server decides every action (contracts/access.py): an RAO creates
// DRAOs of its organizations, peers only with the create_peer_admins privilege, and nobody grants what they lack.
import { api } from "../api.js";
import { navigate, screen } from "../router.js";
import { actionButton, badge, clear, definitionList, field, fmtDate, form, h, link, notice, pager,
         secretOnce, section, table } from "../ui.js";
import { isMrao } from "../session.js";
import { PRIVILEGE_NAMES, namesOf, organizationTree, privilegeBoxes, roleGrid, roleText } from "./people-parts.js";

const PAGE = 25;
const STATUSES = [["", "Any"], ["pending_approval", "pending approval"], ["active", "active"], ["suspended", "suspended"]];
const PEER = ["create_peer_admins", "edit_peer_admins", "delete_peer_admins"];

function managesAdmins(me) {
  return isMrao(me) || me.roles.some((r) => r.role === "RAO") || PEER.some((p) => me.privileges.includes(p));
}

function profileFields(values = {}) {
  return [
    h("div", { class: "row" },
      field({ name: "forename", label: "Forename", required: true, value: values.forename, maxlength: 64 }),
      field({ name: "surname", label: "Surname", required: true, value: values.surname, maxlength: 64 })),
    h("div", { class: "row" },
      field({ name: "email", label: "Email", type: "email", required: true, value: values.email, maxlength: 254 }),
      field({ name: "title", label: "Title", value: values.title, maxlength: 64 }),
      field({ name: "telephone", label: "Telephone", type: "text", value: values.telephone, maxlength: 32 })),
    field({ name: "street", label: "Street", value: values.street, maxlength: 128 }),
    h("div", { class: "row" },
      field({ name: "locality", label: "Locality (city)", value: values.locality, maxlength: 128 }),
      field({ name: "state", label: "State or province", value: values.state, maxlength: 128 })),
    h("div", { class: "row" },
      field({ name: "postal_code", label: "Postal code", value: values.postal_code, maxlength: 40 }),
      field({ name: "country", label: "Country (ISO 3166, two letters)", value: values.country, maxlength: 2 })),
  ];
}

const PROFILE = ["email", "forename", "surname", "title", "telephone", "street", "locality", "state", "postal_code",
                 "country"];

function profileBody(values, { keepEmpty = false, before = null } = {}) {
  const body = {};
  for (const key of PROFILE) {
    let value = values[key];
    if (value === undefined || value === "") {
      if (!keepEmpty || !before || !before[key]) continue;
      value = null;                              // cleared on the form: cleared on the admin
    }
    if (key === "country" && value) value = value.toUpperCase();
    if (before && (before[key] ?? null) === value) continue;
    body[key] = value;
  }
  return body;
}

// ---- the list ------------------------------------------------------------------------------------------------
screen({
  path: "/admins",
  title: "Admins",
  nav: { label: "Admins", order: 20, visible: managesAdmins },
  async render(ctx) {
    const query = { status: ctx.query.status, position: Number(ctx.query.position || 0), size: PAGE };
    const [found, tree] = await Promise.all([api("GET", "/api/v1/admins", { query }), organizationTree()]);
    const names = namesOf(tree);
    const filters = form({
      testid: "admin-filters",
      submitLabel: "Filter",
      fields: [h("div", { class: "row" }, field({ name: "status", label: "Status", type: "select",
                                                   value: ctx.query.status, options: STATUSES }))],
      onSubmit: async (values) => navigate("/admins", values),
    });
    clear(ctx.main,
      h("div", { class: "page-head" }, h("h1", {}, "Admins"),
        link("#/admins/new", "Add admin", { class: "button primary", "data-testid": "add-admin" })),
      filters,
      table({
        testid: "admin-rows",
        columns: [
          { label: "Username", value: (a) => link(`#/admins/${a.admin_id}`, a.username) },
          { label: "Name", value: (a) => `${a.forename} ${a.surname}` },
          { label: "Email", value: (a) => a.email },
          { label: "Roles", value: (a) => h("ul", { class: "plain" }, a.roles.map((r) => h("li", {}, roleText(r, names)))) },
          { label: "Status", value: (a) => badge(a.status) },
        ],
        rows: found.items,
        empty: ctx.query.status ? "No admins with this status." : "No admins you manage.",
      }),
      pager({ total: found.total, position: query.position, size: PAGE,
              onChange: (position) => navigate("/admins", { ...ctx.query, position }) }));
  },
});

// ---- Add admin -----------------------------------------------------------------------------------------------
screen({
  path: "/admins/new",
  title: "Add admin",
  async render(ctx) {
    const tree = await organizationTree();
    const grid = roleGrid(ctx.me, tree);
    const add = form({
      testid: "admin-form",
      submitLabel: "Add admin",
      fields: [
        field({ name: "username", label: "Username", required: true, maxlength: 64, autocomplete: "off",
                help: "3 to 64 letters, digits or . _ @ - (no spaces)." }),
        ...profileFields(),
        h("fieldset", {}, h("legend", {}, "Initial password"),
          h("p", { class: "help" }, "The admin changes it at first login. Send it to them out of band. Leave both " +
            "empty for a web-service API only admin (they use API keys)."),
          h("div", { class: "row" },
            field({ name: "password", label: "Password", type: "password", autocomplete: "new-password" }),
            field({ name: "confirm", label: "Confirm password", type: "password", autocomplete: "new-password" }))),
        grid.element,
        privilegeBoxes(ctx.me),
      ],
      onSubmit: async (values) => {
        const apiOnly = (values.privileges || []).includes("ws_api_only");
        if ((values.password || "") !== (values.confirm || "")) {
          throw { message: "the password and its confirmation differ" };
        }
        if (!apiOnly && !values.password) {
          throw { message: "a console admin needs an initial password (or tick “Web-service API only”)" };
        }
        const roles = grid.roles();
        if (!roles.length) throw { message: "tick at least one role in the grid" };
        const body = { username: values.username, ...profileBody(values), roles, privileges: values.privileges || [] };
        if (!apiOnly) body.password = values.password;
        const created = await api("POST", "/api/v1/admins", { json: body });
        navigate(`/admins/${created.admin_id}`, { created: created.status });
      },
    });
    clear(ctx.main, h("h1", {}, "Add admin"),
      isMrao(ctx.me) ? null : notice("An admin you create waits for an MRAO's approval before they can log in. " +
        "You can give only roles inside your own and privileges you hold; a role equal to yours needs the " +
        "“Create peer admins” privilege.", "info"),
      section(null, add));
  },
});

// ---- the admin's page ----------------------------------------------------------------------------------------
screen({
  path: "/my-account",
  title: "My account",
  nav: { label: "My account", order: 95 },
  async render(ctx) {
    await adminPage(ctx, ctx.me.admin_id);
  },
});

screen({
  path: "/admins/:id",
  title: "Admin",
  async render(ctx) {
    await adminPage(ctx, ctx.params.id);
  },
});

async function adminPage(ctx, id) {
  const [admin, tree] = await Promise.all([api("GET", `/api/v1/admins/${id}`), organizationTree()]);
  const names = namesOf(tree);
  const me = ctx.me;
  const self = admin.admin_id === me.admin_id;
  const mrao = isMrao(me);
  const parts = [
    h("div", { class: "page-head" }, h("h1", {}, admin.username), badge(admin.status)),
    ctx.query.created === "pending_approval"
      ? notice("Created. The admin waits for an MRAO's approval before they can log in.", "info") : null,
    ctx.query.created === "active" ? notice("Created and active. Send the initial password out of band.", "success") : null,
    definitionList([
      ["Name", [admin.title, admin.forename, admin.surname].filter(Boolean).join(" ")],
      ["Email", admin.email], ["Telephone", admin.telephone],
      ["Address", [admin.street, admin.locality, admin.state, admin.postal_code, admin.country].filter(Boolean).join(", ")],
      ["Roles", h("ul", { class: "plain", "data-testid": "admin-roles" }, admin.roles.map((r) => h("li", {}, roleText(r, names))))],
      ["Privileges", admin.privileges.length ? admin.privileges.map((p) => PRIVILEGE_NAMES[p] || p).join(", ") : "none"],
      ["Login", admin.api_only ? "web-service API only (API keys)" : (admin.must_change_password
        ? "must change the password at next login" : "password")],
      ["Locked until", admin.locked_until ? fmtDate(admin.locked_until) : null],
      ["Created", fmtDate(admin.created_at)], ["Changed", fmtDate(admin.updated_at)],
    ]),
  ];

  // status: approve (an MRAO other than the one who asked), suspend, reactivate
  const statusActions = [];
  if (admin.status === "pending_approval" && mrao && admin.created_by !== `admin:${me.admin_id}`) {
    statusActions.push(actionButton("Approve", async () => {
      await api("POST", `/api/v1/admins/${id}/approve`);
      ctx.refresh();
    }, { kind: "primary", testid: "admin-approve" }));
  }
  if (!self && admin.status === "active") {
    statusActions.push(actionButton("Suspend", async () => {
      await api("POST", `/api/v1/admins/${id}/suspend`);
      ctx.refresh();
    }, { kind: "danger", testid: "admin-suspend",
         confirm: `Suspend ${admin.username}? Their sessions and API keys stop working at once.` }));
  }
  if (!self && admin.status === "suspended") {
    statusActions.push(actionButton("Reactivate", async () => {
      await api("POST", `/api/v1/admins/${id}/reactivate`);
      ctx.refresh();
    }, { kind: "primary", testid: "admin-reactivate" }));
  }
  if (statusActions.length) {
    parts.push(section("Status", h("p", {}, "Status: ", badge(admin.status)),
      admin.status === "pending_approval" && mrao && admin.created_by === `admin:${me.admin_id}`
        ? notice("You asked for this admin: another MRAO approves them.", "info") : null,
      h("div", { class: "actions" }, statusActions)));
  } else if (admin.status === "pending_approval") {
    parts.push(section("Status", notice(mrao ? "You asked for this admin: another MRAO approves them."
      : "Waiting for an MRAO's approval.", "info")));
  }

  parts.push(section(self ? "Your details" : "Edit", form({
    testid: "admin-edit",
    fields: profileFields(admin),
    onSubmit: async (values) => {
      const changes = profileBody(values, { keepEmpty: true, before: admin });
      if (!Object.keys(changes).length) return "Nothing changed.";
      Object.assign(admin, await api("PATCH", `/api/v1/admins/${id}`, { json: changes }));
      return "Saved.";
    },
  })));

  if (!self || mrao) {
    const grid = roleGrid(me, tree, admin.roles);
    parts.push(section("Roles and privileges", form({
      testid: "admin-access",
      submitLabel: "Save roles and privileges",
      fields: [grid.element, privilegeBoxes(me, admin.privileges),
        mrao ? null : h("p", { class: "help" }, "A role you add waits for an MRAO's approval again.")],
      onSubmit: async (values) => {
        const roles = grid.roles();
        if (!roles.length) throw { message: "tick at least one role in the grid" };
        await api("PUT", `/api/v1/admins/${id}/access`, { json: { roles, privileges: values.privileges || [] } });
        ctx.refresh();
      },
    })));
  }

  if (!self && !admin.api_only) parts.push(section("Set a password", passwordForm(id)));
  parts.push(section("API keys", apiKeys(ctx, admin)));
  if (!self) {
    parts.push(section("Delete", actionButton("Delete admin", async () => {
      await api("DELETE", `/api/v1/admins/${id}`);
      navigate("/admins");
    }, { kind: "danger", testid: "admin-delete", confirm: `Delete the admin ${admin.username}?` })));
  }
  clear(ctx.main, ...parts);
}

// A password the MRAO types, or one the browser makes; shown once after it is set. The admin changes it at login.
function passwordForm(id) {
  const shown = h("div", { class: "secret-slot" });
  let element = null;
  const generate = h("button", { type: "button", "data-testid": "password-generate" }, "Generate a password");
  generate.addEventListener("click", () => {
    const bytes = crypto.getRandomValues(new Uint8Array(15));
    const value = btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_");
    element.elements.password.value = value;
    element.elements.confirm.value = value;
  });
  element = form({
    testid: "admin-password",
    submitLabel: "Set password",
    fields: [h("p", { class: "help" }, "The admin must change it at their next login; their sessions end."),
      h("div", { class: "row" },
        field({ name: "password", label: "New password", type: "password", required: true, autocomplete: "new-password" }),
        field({ name: "confirm", label: "Confirm new password", type: "password", required: true,
                autocomplete: "new-password" }))],
    secondary: [generate],
    onSubmit: async (values, formElement) => {
      if (values.password !== values.confirm) throw { message: "the password and its confirmation differ" };
      await api("POST", `/api/v1/admins/${id}/password`, { json: { password: values.password } });
      clear(shown, secretOnce("The new password", values.password));
      formElement.reset();
      return "Password set.";
    },
  });
  return [element, shown];
}

function apiKeys(ctx, admin) {
  const slot = h("div", { class: "secret-slot", "data-testid": "api-key-issued" });
  const list = h("div", {});
  const render = (keys) => clear(list, table({
    testid: "api-key-rows",
    columns: [
      { label: "Prefix", value: (k) => h("code", {}, k.prefix) },
      { label: "Name", value: (k) => k.name },
      { label: "Created", value: (k) => fmtDate(k.created_at) },
      { label: "Last used", value: (k) => (k.last_used_at ? fmtDate(k.last_used_at) : "never") },
      { label: "Status", value: (k) => badge(k.revoked ? "revoked" : "active") },
      { label: "", value: (k) => (k.revoked ? null : actionButton("Revoke", async () => {
        await api("DELETE", `/api/v1/admins/${admin.admin_id}/api-keys/${k.key_id}`);
        await reload();
      }, { kind: "danger", testid: `api-key-revoke-${k.name}`, confirm: `Revoke the API key ${k.name}? It stops working at once.` })) },
    ],
    rows: keys,
    empty: "No API keys.",
  }));
  const reload = async () => {
    const fresh = await api("GET", `/api/v1/admins/${admin.admin_id}`);
    render(fresh.api_keys);
  };
  render(admin.api_keys);
  const create = admin.status === "active" ? form({
    testid: "api-key-form",
    submitLabel: "Create API key",
    fields: [field({ name: "name", label: "Key name", required: true, maxlength: 64,
                     help: "What uses it, e.g. “deploy pipeline”." })],
    onSubmit: async (values, element) => {
      const issued = await api("POST", `/api/v1/admins/${admin.admin_id}/api-keys`, { json: { name: values.name } });
      clear(slot, secretOnce(`API key “${issued.name}”`, issued.key),
        h("p", { class: "help" }, "Send it as Authorization: Bearer <key>."));
      element.reset();
      await reload();
    },
  }) : notice(`An API key is issued to an active admin only (this one is ${admin.status.replaceAll("_", " ")}).`);
  return [slot, list, create];
}

