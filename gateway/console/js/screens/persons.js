// Persons (SCM: Persons), the end users of client and code-signing certificates: the list filtered by
// organization and email, Add, the person's page with Edit and Delete, and CSV import for an organization with the
// per-row report shown against the submitted rows. Visible to MRAOs and to client / code-signing RAOs and DRAOs.
import { api, listAll } from "../api.js";
import { navigate, screen } from "../router.js";
import { actionButton, clear, confirmDialog, definitionList, errorBox, field, fmtDate, form, h, link, notice, pager,
         section, table } from "../ui.js";
import { isMrao } from "../session.js";
import { csvLine, parseCsv } from "./people-parts.js";

const PAGE = 25;
const IDENTITY = ["email", "first_name", "middle_name", "last_name"];
const IDENTITY_WORDS = { email: "email", first_name: "first name", middle_name: "middle name", last_name: "last name" };
const COLUMNS = ["email", "first_name", "middle_name", "last_name", "department", "alternative_emails",
                 "validation_type", "secret_id"];
const EDIT_NOTE = "Changing a person's email or name revokes their client certificates (they no longer name " +
  "the person). Changing only the secret ID, the department, the alternative emails or the validation type does not.";

function seesPersons(me) {
  return isMrao(me) || me.roles.some((r) => r.cert_type === "client" || r.cert_type === "code_signing");
}

async function departmentsOf(organizationId) {
  if (!organizationId) return [];
  return listAll(`/api/v1/organizations/${organizationId}/departments`);
}

function departmentOptions(departments) {
  return [["", "(none)"], ...departments.map((d) => [d.department_id, d.name])];
}

function emailsOf(text) {
  return String(text || "").split(/[\s,;]+/).map((e) => e.trim()).filter(Boolean);
}

// ---- the list ------------------------------------------------------------------------------------------------
screen({
  path: "/persons",
  title: "Persons",
  nav: { label: "Persons", order: 30, visible: seesPersons },
  async render(ctx) {
    const query = { organization_id: ctx.query.organization_id, email: ctx.query.email,
                    position: Number(ctx.query.position || 0), size: PAGE };
    const [found, organizations] = await Promise.all([api("GET", "/api/v1/persons", { query }),
                                                      listAll("/api/v1/organizations")]);
    const orgName = Object.fromEntries(organizations.map((o) => [o.organization_id, o.name]));
    const deptName = {};
    await Promise.all([...new Set(found.items.filter((p) => p.department_id).map((p) => p.organization_id))]
      .map(async (o) => { for (const d of await departmentsOf(o)) deptName[d.department_id] = d.name; }));
    const filters = form({
      testid: "person-filters",
      submitLabel: "Filter",
      fields: [h("div", { class: "row" },
        field({ name: "organization_id", label: "Organization", type: "select", value: ctx.query.organization_id,
                options: [["", "Any"], ...organizations.map((o) => [o.organization_id, o.name])] }),
        field({ name: "email", label: "Email contains (3 characters or more)", value: ctx.query.email }))],
      onSubmit: async (values) => navigate("/persons", values),
    });
    const on = ctx.query.organization_id ? { organization_id: ctx.query.organization_id } : {};
    clear(ctx.main,
      h("div", { class: "page-head" }, h("h1", {}, "Persons"),
        h("div", { class: "actions" },
          link(`#/persons/new${on.organization_id ? `?organization_id=${on.organization_id}` : ""}`, "Add person",
               { class: "button primary", "data-testid": "add-person" }),
          link(`#/persons/import${on.organization_id ? `?organization_id=${on.organization_id}` : ""}`, "Import CSV",
               { class: "button", "data-testid": "import-persons" }))),
      filters,
      table({
        testid: "person-rows",
        columns: [
          { label: "Email", value: (p) => link(`#/persons/${p.person_id}`, p.email) },
          { label: "Name", value: (p) => [p.first_name, p.middle_name, p.last_name].filter(Boolean).join(" ") },
          { label: "Organization", value: (p) => orgName[p.organization_id] || "" },
          { label: "Department", value: (p) => (p.department_id ? deptName[p.department_id] || "" : "") },
          { label: "Validation", value: (p) => p.validation_type },
          { label: "Secret ID", value: (p) => (p.has_secret_id ? "set" : "none") },
        ],
        rows: found.items,
        empty: "No persons match.",
      }),
      pager({ total: found.total, position: query.position, size: PAGE,
              onChange: (position) => navigate("/persons", { ...ctx.query, position }) }));
  },
});

// ---- the form's fields ---------------------------------------------------------------------------------------
function personFields(values, departments) {
  return [
    field({ name: "department_id", label: "Department", type: "select", value: values.department_id || "",
            options: departmentOptions(departments), testid: "person-department" }),
    field({ name: "email", label: "Email", type: "email", required: true, value: values.email, maxlength: 254 }),
    h("div", { class: "row" },
      field({ name: "first_name", label: "First name", required: true, value: values.first_name, maxlength: 64 }),
      field({ name: "middle_name", label: "Middle name", value: values.middle_name, maxlength: 64 }),
      field({ name: "last_name", label: "Last name", required: true, value: values.last_name, maxlength: 64 })),
    field({ name: "alternative_emails", label: "Alternative emails", type: "textarea", rows: 2,
            value: (values.alternative_emails || []).join("\n"), help: "One per line (at most 20)." }),
    h("div", { class: "row" },
      field({ name: "validation_type", label: "Validation type", type: "select",
              value: values.validation_type || "standard", options: [["standard", "standard"], ["high", "high"]] }),
      field({ name: "secret_id", label: values.person_id ? "New secret ID (empty: unchanged)" : "Secret ID",
              type: "password", autocomplete: "new-password",
              help: "For self-enrollment; 6 characters or more. Never shown again." })),
  ];
}

// ---- Add person ----------------------------------------------------------------------------------------------
screen({
  path: "/persons/new",
  title: "Add person",
  async render(ctx) {
    const organizations = await listAll("/api/v1/organizations");
    const chosen = ctx.query.organization_id || (organizations.length === 1 ? organizations[0].organization_id : "");
    const departments = await departmentsOf(chosen);
    const orgField = field({ name: "organization_id", label: "Organization", type: "select", required: true,
                             value: chosen, testid: "person-organization",
                             options: [["", "Choose…"], ...organizations.map((o) => [o.organization_id, o.name])] });
    const add = form({
      testid: "person-form",
      submitLabel: "Add person",
      fields: [orgField, ...personFields({}, departments)],
      onSubmit: async (values) => {
        const body = { organization_id: values.organization_id, department_id: values.department_id || null,
                       email: values.email, first_name: values.first_name, middle_name: values.middle_name || null,
                       last_name: values.last_name, alternative_emails: emailsOf(values.alternative_emails),
                       validation_type: values.validation_type };
        if (values.secret_id) body.secret_id = values.secret_id;
        const created = await api("POST", "/api/v1/persons", { json: body });
        navigate(`/persons/${created.person_id}`);
      },
    });
    // another organization: its departments (the typed values stay)
    orgField.querySelector("select").addEventListener("change", async (event) => {
      const select = add.elements.department_id;
      clear(select, departmentOptions(await departmentsOf(event.target.value)).map(([v, t]) => h("option", { value: v }, t)));
    });
    clear(ctx.main, h("h1", {}, "Add person"), section(null, add));
  },
});

// ---- CSV import ----------------------------------------------------------------------------------------------
screen({
  path: "/persons/import",
  title: "Import persons",
  async render(ctx) {
    const organizations = await listAll("/api/v1/organizations");
    const report = h("div", { class: "import-report", "data-testid": "import-report" });
    const submit = async (organizationId, text) => {
      try {
        const answer = await api("POST", `/api/v1/organizations/${organizationId}/persons/import`,
                                 { form: new Blob([text], { type: "text/csv" }) });
        clear(report, notice(`${answer.imported} person(s) imported.`, "success"),
          h("p", {}, link(`#/persons?organization_id=${organizationId}`, "See the organization's persons")));
      } catch (error) {
        if (error.code !== "csv_rows_invalid" || !error.details || !Array.isArray(error.details.rows)) throw error;
        showReport(report, error, text, (good) => submit(organizationId, good));
      }
    };
    const upload = form({
      testid: "import-form",
      submitLabel: "Import",
      fields: [
        field({ name: "organization_id", label: "Organization", type: "select", required: true,
                value: ctx.query.organization_id || (organizations.length === 1 ? organizations[0].organization_id : ""),
                testid: "import-organization",
                options: [["", "Choose…"], ...organizations.map((o) => [o.organization_id, o.name])] }),
        h("div", { class: "field" }, h("label", { for: "import-file" }, "CSV file"),
          h("input", { type: "file", id: "import-file", name: "file", accept: ".csv,text/csv", "data-testid": "import-file" })),
        field({ name: "text", label: "…or paste the CSV", type: "textarea", rows: 8, mono: true, testid: "import-text",
                placeholder: COLUMNS.join(",") }),
      ],
      onSubmit: async (values) => {
        const text = values.file ? await values.file.text() : (values.text || "");
        if (!text.trim()) throw { message: "choose a file or paste the CSV" };
        clear(report);
        await submit(values.organization_id, text);
      },
    });
    clear(ctx.main, h("h1", {}, "Import persons"),
      section(null,
        h("p", {}, "UTF-8 CSV with this header line, then one person a line:"),
        h("pre", { class: "mono csv-header" }, COLUMNS.join(",")),
        h("ul", { class: "help" },
          h("li", {}, "email, first_name and last_name are required; department is a department's name in the organization."),
          h("li", {}, "alternative_emails are separated by “;”; validation_type is standard (default) or high."),
          h("li", {}, "All or nothing: if any row is wrong nothing is imported, and each wrong row is shown with its errors.")),
        upload),
      report);
  },
});

// The rows as submitted, each with the server's errors beside it; then the good rows can be imported alone.
function showReport(report, error, text, importGood) {
  const records = parseCsv(text);
  const header = records.find((r) => r.cells.some((c) => c.trim()));
  const byLine = Object.fromEntries(error.details.rows.map((r) => [Number(r.row), r.errors]));
  const fileErrors = error.details.rows.filter((r) => (r.errors.file || r.errors.header));
  const rows = records.filter((r) => r !== header && r.cells.some((c) => c.trim()));
  const good = rows.filter((r) => !byLine[r.line]);
  const say = (v) => (Array.isArray(v) ? v.map(say).join("; ") : v && typeof v === "object" ? JSON.stringify(v) : String(v));
  const words = (errors) => h("ul", { class: "row-errors" }, Object.entries(errors).map(([k, v]) =>
    h("li", {}, h("strong", {}, k.replaceAll("_", " ")), ": ", say(v))));
  const parts = [h("h2", {}, "Import report"), errorBox({ message: error.message, code: error.code, status: error.status,
                                                          correlationId: error.correlationId })];
  if (fileErrors.length) {
    parts.push(h("ul", { class: "file-errors" }, fileErrors.map((r) => h("li", {}, `line ${r.row}: `, words(r.errors)))));
  }
  if (rows.length && header) {
    parts.push(table({
      testid: "import-rows",
      caption: `${rows.length} row(s) submitted, ${rows.length - good.length} with errors`,
      columns: [
        { label: "Line", value: (r) => String(r.line) },
        { label: "Email", value: (r) => r.cells[0] ?? "" },
        { label: "Name", value: (r) => [r.cells[1], r.cells[2], r.cells[3]].filter(Boolean).join(" ") },
        { label: "Department", value: (r) => r.cells[4] ?? "" },
        { label: "Validation", value: (r) => r.cells[6] ?? "" },
        { label: "Errors", value: (r) => (byLine[r.line] ? words(byLine[r.line])
          : h("span", { class: "row-ok" }, "no errors")) },
      ],
      rows,
    }));
    // rows of the table carry their state for styling and tests
    const body = parts[parts.length - 1].querySelector("tbody");
    [...body.children].forEach((tr, i) => {
      tr.dataset.line = String(rows[i].line);
      tr.className = byLine[rows[i].line] ? "row-bad" : "row-good";
    });
    if (good.length && !fileErrors.length) {
      parts.push(h("p", {}, "Fix the wrong rows in the file and import it again, or import the rows without errors now."),
        actionButton(`Import the ${good.length} row(s) without errors`, async () => {
          await importGood([csvLine(header.cells), ...good.map((r) => csvLine(r.cells))].join("\n") + "\n");
        }, { kind: "primary", testid: "import-good" }));
    }
  }
  clear(report, section(null, parts));
  report.scrollIntoView({ block: "nearest" });
}

// ---- the person's page ---------------------------------------------------------------------------------------
// The person's valid client certificates (X-Total-Count), or null when this admin may not list client certificates.
async function validClientCertificates(personId) {
  try {
    const response = await api("GET", "/api/v1/client", { query: { person_id: personId, status: "valid", size: 1 },
                                                          raw: true });
    const total = Number(response.headers.get("X-Total-Count"));
    return Number.isFinite(total) ? total : null;
  } catch (ignored) {
    return null;
  }
}

screen({
  path: "/persons/:id",
  title: "Person",
  async render(ctx) {
    const id = ctx.params.id;
    const person = await api("GET", `/api/v1/persons/${id}`);
    const [departments, organization] = await Promise.all([departmentsOf(person.organization_id),
      api("GET", `/api/v1/organizations/${person.organization_id}`).catch(() => null)]);
    const department = departments.find((d) => d.department_id === person.department_id);
    const name = [person.first_name, person.middle_name, person.last_name].filter(Boolean).join(" ");
    const edit = form({
      testid: "person-edit",
      fields: [notice(EDIT_NOTE, "warning"), ...personFields(person, departments)],
      onSubmit: async (values) => {
        const next = { department_id: values.department_id || null, email: values.email,
                       first_name: values.first_name, middle_name: values.middle_name || null,
                       last_name: values.last_name, alternative_emails: emailsOf(values.alternative_emails),
                       validation_type: values.validation_type };
        const changes = {};
        for (const [key, value] of Object.entries(next)) {
          const before = person[key] ?? null;
          if (JSON.stringify(before) !== JSON.stringify(value)) changes[key] = value;
        }
        if (values.secret_id) changes.secret_id = values.secret_id;
        if (!Object.keys(changes).length) return "Nothing changed.";
        const identity = IDENTITY.filter((k) => k in changes);
        if (identity.length) {
          // how many valid client certificates the change revokes (null: this admin may not count them)
          const valid = await validClientCertificates(id);
          if (valid === null || valid > 0) {
            const words = valid === null
              ? "This revokes the person's client certificates: they no longer name the person."
              : `${valid} client certificate${valid === 1 ? "" : "s"} of this person will be revoked: ` +
                `${valid === 1 ? "it no longer names" : "they no longer name"} the person.`;
            const ok = await confirmDialog(`Change the ${identity.map((k) => IDENTITY_WORDS[k]).join(", ")} of ${name}?`, {
              confirmLabel: "Change and revoke",
              body: h("p", { "data-testid": "revoke-warning" }, words, " The person enrolls again afterwards."),
            });
            if (!ok) return "Not saved.";
          }
        }
        Object.assign(person, await api("PATCH", `/api/v1/persons/${id}`, { json: changes }));
        ctx.refresh();
        return "Saved.";
      },
    });
    clear(ctx.main,
      h("div", { class: "page-head" }, h("h1", {}, name)),
      definitionList([["Email", person.email], ["Organization", organization ? organization.name : ""],
                      ["Department", department ? department.name : (person.department_id ? "" : "none")],
                      ["Alternative emails", person.alternative_emails.join(", ")],
                      ["Validation type", person.validation_type],
                      ["Secret ID", person.has_secret_id ? "set" : "none"],
                      ["Created", fmtDate(person.created_at)], ["Changed", fmtDate(person.updated_at)]]),
      section("Edit", edit),
      section("Delete", actionButton("Delete person", async () => {
        await api("DELETE", `/api/v1/persons/${id}`);
        navigate("/persons", { organization_id: person.organization_id });
      }, { kind: "danger", testid: "person-delete", confirm: `Delete the person ${name} (${person.email})?` })));
  },
});
