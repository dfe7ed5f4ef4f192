// Certificate profiles (SCM: Settings > Certificate Profiles): the list, Create profile, the profile's page with
// Edit and Delete. Managing profiles is MRAO's, so the nav item and these screens are for MRAOs only (the SSL
// request wizard reads profiles through the API for everyone; the server decides every change).
import { api } from "../api.js";
import { navigate, screen } from "../router.js";
import { actionButton, clear, definitionList, field, fmtDate, form, h, link, notice, section,
         table } from "../ui.js";
import { CERT_TYPES, isMrao } from "../session.js";

const KEY_TYPES = [["rsa-2048", "RSA 2048 bits"], ["rsa-3072", "RSA 3072 bits"], ["rsa-4096", "RSA 4096 bits"],
                   ["ec-p256", "ECDSA P-256"], ["ec-p384", "ECDSA P-384"], ["ec-p521", "ECDSA P-521"]];
// the key usages a profile may list (keyEncipherment is added per RSA key by its own switch, never listed)
const KEY_USAGES = [["digital_signature", "Digital signature (always)"],
                    ["content_commitment", "Content commitment (non-repudiation; client profiles only)"]];
const EKUS = [["server_auth", "TLS server authentication"], ["client_auth", "TLS client authentication"],
              ["code_signing", "Code signing"], ["email_protection", "E-mail protection (S/MIME)"]];
// what each certificate type needs by default (contracts/certificate_rules.py EKU_REQUIRED / EKU_ALLOWED)
const EKU_DEFAULTS = { ssl: ["server_auth"], client: ["email_protection", "client_auth"],
                       code_signing: ["code_signing"], device: ["client_auth", "server_auth"] };
export const TRUST_CLASSES = [
  ["private", "Private — your own PKI: internal names and IP addresses allowed, terms up to 398 days"],
  ["public", "Public — CA/Browser Forum rules in full (TLS only): fresh DCV, CAA, public names, BR validity"],
];
const TRUST_WORDS = {
  trust_class_fixed: "The trust class of a profile cannot change once it exists: create a new profile instead.",
};

export function typeLabel(certType) {
  return (CERT_TYPES.find(([t]) => t === certType) || [certType, certType])[1];
}

function keyTypeLabel(keyType) {
  return (KEY_TYPES.find(([t]) => t === keyType) || [keyType, keyType])[1];
}

function caLabel(cas, caId) {
  if (!caId) {
    const fallback = cas.find((c) => c.default);
    return fallback ? `default (${fallback.name})` : "default issuing CA";
  }
  const found = cas.find((c) => c.ca_id === caId);
  return found ? found.name : caId;
}

function notForRole(ctx, title) {
  clear(ctx.main, h("h1", {}, title), notice("Certificate profiles are managed by MRAO administrators."));
}

// a group of checkboxes read by valuesOf() as a list (data-group)
function checkGroup(name, legend, options, chosen, help) {
  return h("fieldset", { class: "check-group", "data-testid": `${name}-group` }, h("legend", {}, legend),
    help ? h("p", { class: "help" }, help) : null,
    h("div", { class: "check-grid" }, options.map(([value, text]) => {
      const id = `${name}-${value}-${Math.random().toString(36).slice(2, 8)}`;
      return h("div", { class: "field checkbox" },
        h("input", { type: "checkbox", id, name, value, "data-group": "1", checked: chosen.includes(value) }),
        h("label", { for: id }, text));
    })));
}

// "90, 365" -> [90, 365]; what is not a whole number goes to the API as typed, which explains the refusal
export function parseTerms(text) {
  return String(text || "").split(/[\s,;]+/).filter(Boolean).map((t) => (/^\d+$/.test(t) ? Number(t) : t));
}

function profileFields(cas, values = {}, existing = false) {
  const issuing = cas.filter((c) => c.kind === "issuing");
  const trust = values.trust_class || "private";
  return [
    field({ name: "name", label: "Name", required: true, maxlength: 64, value: values.name, testid: "profile-name" }),
    h("div", { class: "row" },
      field({ name: "ca_id", label: "CA backend", type: "select", value: values.ca_id || "", testid: "profile-ca",
              options: [["", caLabel(cas, null)],
                        ...issuing.map((c) => [c.ca_id, `${c.name}${c.status === "revoked" ? " (revoked)" : ""}`])] }),
      field({ name: "cert_type", label: "Certificate type", type: "select", required: true,
              value: values.cert_type || "ssl", options: CERT_TYPES, testid: "profile-cert-type" })),
    existing
      ? field({ name: "trust_class", label: "Trust class (fixed once created)", value: trust, readOnly: true,
                testid: "profile-trust-class",
                help: (TRUST_CLASSES.find(([t]) => t === trust) || [trust, ""])[1] })
      : h("fieldset", { class: "trust-class" }, h("legend", {}, "Trust class (fixed once created)"),
        TRUST_CLASSES.map(([value, text]) => {
          const id = `trust-${value}-${Math.random().toString(36).slice(2, 8)}`;
          return h("div", { class: "field radio" },
            h("input", { type: "radio", id, name: "trust_class", value, checked: value === trust,
                         "data-testid": `trust-${value}` }),
            h("label", { for: id }, text));
        })),
    field({ name: "description", label: "Description", type: "textarea", rows: 2, value: values.description }),
    h("div", { class: "row" },
      field({ name: "terms", label: "Terms (days, separated by commas)", required: true, testid: "profile-terms",
              value: (values.terms || [90, 365]).join(", "),
              help: "Up to 10 terms; private certificates up to 398 days, public TLS within the CA/Browser Forum limit." }),
      field({ name: "max_sans", label: "Most names (SANs) per certificate", type: "number", min: 1, max: 250,
              value: values.max_sans ?? 100 })),
    checkGroup("key_types", "Allowed key types", KEY_TYPES, values.key_types || KEY_TYPES.map(([t]) => t)),
    checkGroup("key_usage", "Key usage", KEY_USAGES, values.key_usage || ["digital_signature"]),
    field({ name: "key_encipherment_for_rsa", label: "Add keyEncipherment for RSA keys (never for ECDSA)",
            type: "checkbox", value: values.key_encipherment_for_rsa }),
    checkGroup("extended_key_usage", "Extended key usage", EKUS,
               values.extended_key_usage || EKU_DEFAULTS[values.cert_type || "ssl"]),
    field({ name: "requires_approval", label: "Requests need an administrator's approval", type: "checkbox",
            value: values.requires_approval ?? true, testid: "profile-requires-approval" }),
  ];
}

function profileBody(values) {
  const body = {
    name: values.name,
    description: values.description || null,
    ca_id: values.ca_id || null,
    cert_type: values.cert_type,
    terms: parseTerms(values.terms),
    key_types: values.key_types || [],
    key_usage: values.key_usage || [],
    key_encipherment_for_rsa: Boolean(values.key_encipherment_for_rsa),
    extended_key_usage: values.extended_key_usage || [],
    requires_approval: Boolean(values.requires_approval),
  };
  if (values.max_sans !== undefined) body.max_sans = /^\d+$/.test(values.max_sans) ? Number(values.max_sans) : values.max_sans;
  if (values.trust_class) body.trust_class = values.trust_class;
  return body;
}

function explained(error) {
  const words = TRUST_WORDS[error.code];
  if (words) error.message = `${error.message} — ${words}`;
  return error;
}

screen({
  path: "/profiles",
  title: "Certificate profiles",
  nav: { label: "Profiles", order: 60, visible: isMrao },
  async render(ctx) {
    const [found, cas] = await Promise.all([api("GET", "/api/v1/profiles"), listCas()]);
    const rows = [...found.items].sort((a, b) => a.name.localeCompare(b.name));
    clear(ctx.main,
      h("div", { class: "page-head" }, h("h1", {}, "Certificate profiles"),
        link("#/profiles/new", "Create profile", { class: "button primary", "data-testid": "profile-create" })),
      h("p", { class: "muted" }, "A profile decides what a certificate of its type may be: its CA, terms, key types, ",
        "usages, trust class and whether requests need approval."),
      table({
        testid: "profile-rows",
        columns: [
          { label: "Name", value: (p) => link(`#/profiles/${p.profile_id}`, p.name) },
          { label: "Certificate type", value: (p) => typeLabel(p.cert_type) },
          { label: "Trust class", value: (p) => h("span", { class: `badge trust-${p.trust_class}` }, p.trust_class) },
          { label: "CA", value: (p) => caLabel(cas, p.ca_id) },
          { label: "Terms (days)", value: (p) => p.terms.join(", ") },
          { label: "Requires approval", value: (p) => (p.requires_approval ? "yes" : "no") },
        ],
        rows,
        empty: "No profiles yet.",
      }));
  },
});

async function listCas() {
  try {
    return (await api("GET", "/api/v1/cas")).items;
  } catch (ignored) {
    return [];
  }
}

function defaultsOnTypeChange(formElement) {
  const select = formElement.querySelector("select[name=cert_type]");
  select.addEventListener("change", () => {
    const wanted = EKU_DEFAULTS[select.value] || [];
    for (const box of formElement.querySelectorAll("input[name=extended_key_usage]")) box.checked = wanted.includes(box.value);
    if (select.value !== "ssl") {
      const priv = formElement.querySelector("input[name=trust_class][value=private]");
      if (priv) priv.checked = true;
    }
  });
}

screen({
  path: "/profiles/new",
  title: "Create profile",
  async render(ctx) {
    if (!ctx.isMrao) return notForRole(ctx, "Create profile");
    const cas = await listCas();
    const created = form({
      testid: "profile-form",
      submitLabel: "Create profile",
      fields: profileFields(cas),
      onSubmit: async (values, element) => {
        // radios: valuesOf() reads every one of them, so take the checked one here
        const trust = element.querySelector("input[name=trust_class]:checked");
        values.trust_class = trust ? trust.value : "private";
        const profile = await api("POST", "/api/v1/profiles", { json: profileBody(values) });
        navigate(`/profiles/${profile.profile_id}`);
      },
      secondary: [link("#/profiles", "Cancel", { class: "button" })],
    });
    defaultsOnTypeChange(created);
    clear(ctx.main, h("h1", {}, "Create profile"), section(null, created));
  },
});

screen({
  path: "/profiles/:id",
  title: "Certificate profile",
  async render(ctx) {
    if (!ctx.isMrao) return notForRole(ctx, "Certificate profile");
    const id = ctx.params.id;
    const [profile, cas] = await Promise.all([api("GET", `/api/v1/profiles/${id}`), listCas()]);
    const edit = form({
      testid: "profile-edit",
      fields: profileFields(cas, profile, true),
      onSubmit: async (values) => {
        try {
          await api("PATCH", `/api/v1/profiles/${id}`, { json: profileBody(values) });
        } catch (error) {
          throw explained(error);
        }
        ctx.refresh();
      },
    });
    clear(ctx.main,
      h("div", { class: "page-head" }, h("h1", {}, profile.name),
        h("span", { class: `badge trust-${profile.trust_class}`, "data-testid": "profile-trust" }, profile.trust_class)),
      definitionList([["Certificate type", typeLabel(profile.cert_type)], ["Trust class", profile.trust_class],
                      ["CA", caLabel(cas, profile.ca_id)], ["Terms (days)", profile.terms.join(", ")],
                      ["Key types", profile.key_types.map(keyTypeLabel).join(", ")],
                      ["Key usage", profile.key_usage.join(", ") +
                        (profile.key_encipherment_for_rsa ? " (+ key_encipherment for RSA)" : "")],
                      ["Extended key usage", profile.extended_key_usage.join(", ")],
                      ["Requires approval", profile.requires_approval ? "yes" : "no"],
                      ["Description", profile.description],
                      ["Created", fmtDate(profile.created_at)], ["Changed", fmtDate(profile.updated_at)]]),
      section("Edit", edit),
      section("Delete", h("p", {}, "Certificates issued under this profile stay as they are."),
        actionButton("Delete profile", async () => {
          await api("DELETE", `/api/v1/profiles/${id}`);
          navigate("/profiles");
        }, { kind: "danger", testid: "profile-delete", confirm: `Delete the profile ${profile.name}?` })),
      h("p", {}, link("#/profiles", "All profiles")));
  },
});

