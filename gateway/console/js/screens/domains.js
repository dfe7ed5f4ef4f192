// Domains (SCM: Domains): the list with its filters, Add domain with the delegation grid, and the domain's page —
// details, edit, delegations (add, remove, approve, reject), domain control validation (DCV: email, HTTP(S) file,
// DNS CNAME, DNS TXT) with exactly what to publish where and a Check, the CAA result and the evidence's expiry,
// and delete. The IP networks screens (networks.js) share the delegation parts and register from here.
import { api } from "../api.js";
import { hrefOf, navigate, screen } from "../router.js";
import { actionButton, badge, clear, copyButton, daysUntil, definitionList, field, fmtDate, form, h, link,
         notice, pager, section, table } from "../ui.js";
import { hasPrivilege, isMrao } from "../session.js";
import { Names, addDelegations, delegationGrid, delegationSummary, delegationsTable, mayChange } from "./domains-parts.js";
import "./networks.js";

const PAGE = 25;
const FILTER_KEYS = ["q", "organization_id", "delegation_status", "dcv_status", "active"];
const DCV_STATUS_OPTIONS = [["", "Any"], ["not_validated", "not validated"], ["submitted", "submitted"],
                            ["validated", "validated"], ["expired", "expired"]];
const METHOD_WORDS = { email: "Email", http: "HTTP file", https: "HTTPS file", cname: "DNS CNAME", txt: "DNS TXT" };

// What the refusals and failure reasons mean, in words (the API's message and code are shown as well).
const REFUSAL_WORDS = {
  domain_in_use: "The domain is still delegated: remove its delegations first, then delete it.",
  domain_exists: "A domain of that name exists already.",
  own_request: "You requested this delegation yourself: another approver must decide it.",
  domain_inactive: "The domain is inactive: make it active before validating it.",
  dcv_method_wildcard: "A wildcard domain cannot be validated by an HTTP(S) file: use DNS or email.",
  dcv_token_used: "This value has been used: start a new validation.",
  dcv_token_expired: "This attempt has expired: start a new validation.",
  dcv_not_started: "No validation is open: start one first.",
};
const REASON_WORDS = {
  dns_value_missing: "the DNS record was not found with the expected value",
  caa_forbids: "the domain's CAA records do not permit this CA to issue",
  caa_unknown_critical: "a CAA record has a critical tag this CA does not know",
  http_wrong_content: "the file was found but does not hold the expected content",
  http_status: "the web server did not answer 200 for the file",
  http_redirect_refused: "the web server redirected elsewhere, which is not allowed",
};

export function explained(error) {
  const words = REFUSAL_WORDS[error.code];
  if (words && !String(error.message).includes(words)) error.message = `${error.message} — ${words}`;
  if (error.code && error.code.endsWith("_lookup_failed") && !String(error.message).includes("Nothing was recorded")) {
    error.message = `${error.message} — Nothing was recorded; fix the server named and check again.`;
  }
  return error;
}

export function expiryWords(iso) {
  if (!iso) return "";
  const days = daysUntil(iso);
  const when = days < 0 ? `expired ${-days} day${days === -1 ? "" : "s"} ago`
    : days === 0 ? "expires today" : `expires in ${days} day${days === 1 ? "" : "s"}`;
  return `${fmtDate(iso)} (${when})`;
}

// ---- the list ----------------------------------------------------------------------------------------------
screen({
  path: "/domains",
  title: "Domains",
  nav: { label: "Domains", order: 40 },
  async render(ctx) {
    const position = Number(ctx.query.position || 0);
    const query = { ...ctx.query, position, size: PAGE };      // every key the list API accepts passes through
    const [found, names] = await Promise.all([api("GET", "/api/v1/domains", { query }), new Names().load()]);
    await names.forDelegations(found.items.flatMap((d) => d.delegations));
    const extra = Object.entries(ctx.query).filter(([k]) => !FILTER_KEYS.includes(k) && k !== "position");
    const filters = form({
      testid: "domain-filters",
      submitLabel: "Filter",
      fields: [h("div", { class: "row filters" },
        field({ name: "q", label: "Name contains", value: ctx.query.q }),
        field({ name: "organization_id", label: "Organization", type: "select", value: ctx.query.organization_id,
                options: [["", "Any"], ...names.organizations.map((o) => [o.organization_id, o.name])] }),
        field({ name: "delegation_status", label: "Delegation status", type: "select",
                value: ctx.query.delegation_status,
                options: [["", "Any"], ["requested", "requested"], ["approved", "approved"], ["rejected", "rejected"]] }),
        field({ name: "dcv_status", label: "DCV status", type: "select", value: ctx.query.dcv_status,
                options: DCV_STATUS_OPTIONS }),
        field({ name: "active", label: "Active", type: "select", value: ctx.query.active,
                options: [["", "Any"], ["true", "active"], ["false", "inactive"]] }))],
      onSubmit: async (values) => navigate("/domains", { ...Object.fromEntries(extra), ...values }),
    });
    clear(ctx.main,
      h("div", { class: "page-head" }, h("h1", {}, "Domains"),
        link("#/domains/new", "Add domain", { class: "button primary", "data-testid": "domain-add" })),
      filters,
      extra.length ? h("p", { class: "extra-filters", "data-testid": "extra-filters" }, "Also filtered by ",
        extra.map(([k, v], i) => [i ? ", " : "", h("code", {}, `${k.replaceAll("_", " ")} ${k.endsWith("before") ? fmtDate(v) : v}`)]),
        " · ", link(hrefOf("/domains", Object.fromEntries(Object.entries(ctx.query)
          .filter(([k]) => FILTER_KEYS.includes(k)))), "remove")) : null,
      table({
        testid: "domain-rows",
        columns: [
          { label: "Domain", value: (d) => link(`#/domains/${d.domain_id}`, d.name) },
          { label: "Active", value: (d) => badge(d.active ? "active" : "inactive") },
          { label: "Delegations", value: (d) => delegationSummary(names, d.delegations) },
          { label: "DCV status", value: (d) => badge(d.dcv.status) },
          { label: "DCV method", value: (d) => METHOD_WORDS[d.dcv.method] || "" },
          { label: "Evidence expires", value: (d) => expiryWords(d.dcv.evidence_expires_at) },
        ],
        rows: found.items,
        empty: "No domains match.",
      }),
      pager({ total: found.total, position, size: PAGE,
              onChange: (next) => navigate("/domains", { ...ctx.query, position: next }) }));
  },
});

// ---- add -----------------------------------------------------------------------------------------------------
screen({
  path: "/domains/new",
  title: "Add domain",
  async render(ctx) {
    const names = await new Names().load();
    const grid = delegationGrid(names, ctx.me);
    clear(ctx.main, h("h1", {}, "Add domain"), section(null, form({
      testid: "domain-form",
      submitLabel: "Add domain",
      fields: [
        field({ name: "name", label: "Domain name", required: true, maxlength: 300,
                help: "e.g. example.com, *.example.com (a wildcard) or an internationalised name." }),
        field({ name: "description", label: "Description", type: "textarea", rows: 2 }),
        field({ name: "active", label: "Active (certificates may name it)", type: "checkbox", value: true }),
      ],
      extra: [grid.element],
      onSubmit: async (values) => {
        const delegations = grid.delegations();
        if (!delegations.length && !isMrao(ctx.me)) {
          throw { message: "Tick at least one certificate type for one of your organizations or departments." };
        }
        let created;
        try {
          created = await api("POST", "/api/v1/domains", { json: {
            name: values.name, description: values.description || null, active: values.active, delegations } });
        } catch (error) {
          throw explained(error);
        }
        navigate(`/domains/${created.domain_id}`, { created: "1" });
      },
    })));
  },
});

// ---- the domain's page ---------------------------------------------------------------------------------------
screen({
  path: "/domains/:id",
  title: "Domain",
  async render(ctx) {
    const id = ctx.params.id;
    const base = `/api/v1/domains/${id}`;
    const [first, names] = await Promise.all([api("GET", base), new Names().load()]);
    const flash = h("div", { class: "outcome", "aria-live": "polite", "data-testid": "domain-flash" });
    const body = h("div", {});
    let dcvOutcome = null;          // the last Check / submit answer, shown until the next action

    const show = async (domain, message) => {
      await names.forDelegations(domain.delegations);
      clear(flash, message ? notice(message, "success") : null);
      clear(body, ...page(domain));
    };

    const page = (domain) => {
      const changeable = mayChange(ctx.me, domain);
      const parts = [
        h("div", { class: "page-head" }, h("h1", {}, domain.name),
          badge(domain.active ? "active" : "inactive"), " ", badge(domain.dcv.status)),
        ctx.query.created ? notice(domain.delegations.some((d) => d.status === "requested")
          ? "Domain added. Its delegations are requested: an approver (not you) must approve them."
          : "Domain added.", "success") : null,
        definitionList([["Description", domain.description], ["Active", domain.active ? "yes" : "no"],
                        ["Wildcard", domain.wildcard ? "yes" : "no"], ["Created", fmtDate(domain.created_at)],
                        ["Changed", fmtDate(domain.updated_at)]]),
        h("p", {}, link(hrefOf("/ssl", { q: domain.name }), "SSL certificates naming it")),
      ];
      if (changeable) {
        parts.push(section("Edit", form({
          testid: "domain-edit",
          fields: [field({ name: "description", label: "Description", type: "textarea", rows: 2,
                           value: domain.description || "" }),
                   field({ name: "active", label: "Active (certificates may name it)", type: "checkbox",
                           value: domain.active })],
          onSubmit: async (values) => {
            const answer = await api("PATCH", base, { json: { description: values.description || null,
                                                              active: values.active } });
            await show(answer, "Saved.");
          },
        })));
      }
      parts.push(section("Delegations",
        delegationsTable({ names, me: ctx.me, found: domain, base, onChanged: (answer, message) => show(answer, message) }),
        h("h3", {}, "Add a delegation"),
        addDelegations({ names, me: ctx.me, base, onChanged: (answer, message) => show(answer, message) })));
      parts.push(dcvSection(ctx, domain, base, show, () => dcvOutcome, (o) => { dcvOutcome = o; }));
      if (changeable) {
        parts.push(section("Delete",
          h("p", {}, "A domain can be deleted once it is no longer delegated: remove its delegations first."),
          actionButton("Delete domain", async () => {
            try {
              await api("DELETE", base);
            } catch (error) {
              throw explained(error);
            }
            navigate("/domains");
          }, { kind: "danger", testid: "domain-delete", confirm: `Delete the domain ${domain.name}?` })));
      }
      return parts;
    };

    clear(ctx.main, flash, body);
    await show(first, null);
  },
});

// ---- domain control validation -------------------------------------------------------------------------------
function dcvSection(ctx, domain, base, show, lastOutcome, setOutcome) {
  const dcv = domain.dcv;
  const state = definitionList([
    ["Status", badge(dcv.status)],
    ["Method", METHOD_WORDS[dcv.method] || (dcv.method ? dcv.method : "none yet")],
    ["Validated", fmtDate(dcv.validated_at)],
    ["Evidence expires", dcv.evidence_expires_at
      ? h("span", { "data-testid": "dcv-evidence-expires" }, expiryWords(dcv.evidence_expires_at)) : null],
    ["Last failure", dcv.last_failure],
  ]);
  const parts = [h("div", { "data-testid": "dcv-state" }, state), caaBlock(dcv.caa)];
  const outcome = lastOutcome();
  if (outcome) parts.push(outcome);
  const allowed = hasPrivilege(ctx.me, "allow_dcv");
  if (dcv.status === "submitted" && dcv.method) parts.push(instructions(ctx, domain, base, show, setOutcome));
  if (!allowed) {
    parts.push(notice("Domain control validation needs the \"allow DCV\" privilege.", "info"));
  } else if (!domain.active) {
    parts.push(notice("The domain is inactive: make it active to validate it.", "info"));
  } else {
    parts.push(startForm(ctx, domain, base, show, setOutcome));
  }
  return h("section", { class: "card", "data-testid": "dcv" }, h("h2", {}, "Domain control validation (DCV)"), parts);
}

function caaBlock(caa) {
  if (!caa) return null;
  const words = caa.result === "permitted" ? "CAA permits this CA" : "no CAA records: any CA may issue";
  return h("div", { class: "caa", "data-testid": "dcv-caa" }, h("h3", {}, "CAA"),
    definitionList([["Result", [badge(caa.result), " ", words]], ["Looked up", caa.checked_name],
                    ["Found at", caa.relevant_name],
                    ["Records", caa.records.length ? h("ul", {}, caa.records.map((r) => h("li", {}, h("code", {}, r))))
                      : null]]));
}

function publishRow(label, value, testid) {
  return [h("dt", {}, label), h("dd", {}, h("div", { class: "copy-row" },
    h("code", { class: "mono publish-value", "data-testid": testid }, value), copyButton(value)))];
}

function instructions(ctx, domain, base, show, setOutcome) {
  const dcv = domain.dcv;
  const method = dcv.method;
  const parts = [h("h3", {}, `Open attempt: ${METHOD_WORDS[method]}`)];
  if (method === "txt" || method === "cname") {
    parts.push(h("p", {}, method === "txt"
      ? "Publish this TXT record in the domain's DNS zone, then press Check."
      : "Publish this CNAME record in the domain's DNS zone, then press Check."),
    h("dl", { class: "facts publish", "data-testid": "dcv-instructions" },
      publishRow("Record name", dcv.dns_name, "dcv-record-name"),
      publishRow("Type", method.toUpperCase(), "dcv-record-type"),
      publishRow(method === "txt" ? "Value" : "Target", dcv.expected_value, "dcv-record-value")));
  } else if (method === "http" || method === "https") {
    parts.push(h("p", {}, "Put a file with exactly this content at this URL on the domain's web server, then " +
                           "press Check. Redirects to another host are not followed."),
    h("dl", { class: "facts publish", "data-testid": "dcv-instructions" },
      publishRow("URL", dcv.http_url, "dcv-url"),
      publishRow("File content", dcv.expected_value, "dcv-file-content")));
  } else if (method === "email") {
    parts.push(h("p", { "data-testid": "dcv-mailed" }, "A code was mailed to ", h("strong", {}, dcv.email_address),
      ". Its recipient opens the link in the mail and enters the code, or you enter it here."));
    if (isMrao(ctx.me)) {
      parts.push(notice(h("span", {}, "No SMTP server configured? Then the mail waits in the ",
        link("#/outbox", "Outbox", { "data-testid": "dcv-outbox-link" }), "."), "info"));
    }
  }
  if (dcv.token_expires_at) parts.push(h("p", { class: "muted" }, `This attempt ${expiryWords(dcv.token_expires_at)}.`));
  if (method === "email") {
    parts.push(form({
      testid: "dcv-code-form",
      submitLabel: "Confirm code",
      fields: [field({ name: "code", label: "Code from the mail", required: true, autocomplete: "off" })],
      onSubmit: async (values) => {
        let answer;
        try {
          answer = await api("POST", `${base}/dcv/submit`, { json: { code: values.code } });
        } catch (error) {
          throw explained(error);
        }
        setOutcome(outcomeBox(answer));
        await show(answer.domain, null);
      },
    }));
  } else {
    parts.push(actionButton("Check", async () => {
      let answer;
      try {
        answer = await api("POST", `${base}/dcv/check`);
      } catch (error) {
        throw explained(error);
      }
      setOutcome(outcomeBox(answer));
      await show(answer.domain, null);
    }, { kind: "primary", testid: "dcv-check" }));
  }
  return h("div", { class: "dcv-open", "data-testid": "dcv-open", "data-method": method }, parts);
}

function outcomeBox(answer) {
  if (answer.validated) {
    const expires = answer.domain.dcv.evidence_expires_at;
    return h("div", { class: "alert success", role: "status", "data-testid": "dcv-outcome", "data-outcome": "validated" },
      h("p", {}, h("strong", {}, "Validated"), `: control of ${answer.domain.name} is proven.`,
        expires ? ` The evidence ${expiryWords(expires)}.` : ""),
      answer.detail ? h("p", { class: "muted" }, answer.detail) : null);
  }
  return h("div", { class: "alert error", role: "alert", "data-testid": "dcv-outcome", "data-outcome": "failed" },
    h("p", {}, h("strong", {}, "Not validated"), ": ", REASON_WORDS[answer.reason] || "control was not proven", "."),
    h("p", {}, "Reason ", h("code", { "data-testid": "dcv-reason" }, answer.reason || "unknown"), " — ", answer.detail),
    h("p", { class: "muted" }, "Fix what is published and press Check again; the attempt stays open until it expires."));
}

function startForm(ctx, domain, base, show, setOutcome) {
  const methods = [["txt", "DNS TXT record"], ["cname", "DNS CNAME record"], ["http", "HTTP file"],
                   ["https", "HTTPS file"], ["email", "Email to the domain's administrator"]]
    .filter(([m]) => !(domain.wildcard && (m === "http" || m === "https")));
  const addresses = domain.dcv_email_addresses || [];
  const addressField = field({ name: "email_address", label: "Send the code to", type: "select",
                               options: addresses.map((a) => [a, a]), testid: "dcv-email-address",
                               help: "Only these addresses of the domain are allowed (CA/B Forum BR 3.2.2.4)." });
  const methodField = field({ name: "method", label: "Method", type: "select", options: methods, testid: "dcv-method",
                              help: domain.wildcard ? "A wildcard domain is validated by DNS or email." : null });
  const select = methodField.querySelector("select");
  const sync = () => { addressField.hidden = select.value !== "email"; addressField.querySelector("select").disabled = select.value !== "email"; };
  select.addEventListener("change", sync);
  sync();
  const open = domain.dcv.status === "submitted";
  return h("div", { class: "dcv-start" }, h("h3", {}, open ? "Start again (replaces the open attempt)" :
                                              domain.dcv.status === "validated" ? "Revalidate" : "Start validation"),
    form({
      testid: "dcv-start",
      submitLabel: "Start validation",
      fields: [methodField, addressField],
      onSubmit: async (values) => {
        let answer;
        try {
          answer = await api("POST", `${base}/dcv`, { json: values.method === "email"
            ? { method: "email", email_address: values.email_address } : { method: values.method } });
        } catch (error) {
          throw explained(error);
        }
        setOutcome(null);
        await show(answer, values.method === "email" ? `The code was mailed to ${values.email_address}.`
          : `Validation started: publish what is shown below, then press Check.`);
      },
    }));
}

