// What the SSL screens share: the names of the organizations, departments and profiles the admin sees (never an
// id in place of a name: what the admin cannot see is shown as "not visible to you"), the status and format
// words, and the CSR widget — paste, upload a file, or generate the key and CSR in the browser — used by the
// request wizard and by Renew / Replace on the certificate page; and the answers of an issuance (issue 13): issued
// (201), still being issued (202), or recorded and refused by the CA after that (422 with the findings and the id
// of the request, now `failed`).
import { api, listAll } from "../api.js";
import { DEFAULT_KEY_TYPE, KEY_TYPES, downloadText, generateCsr } from "../csr.js";
import { badge, clear, h, link, notice, table, uid } from "../ui.js";
import { departmentIds, isMrao, organizationIds } from "../session.js";

export const PENDING = new Set(["requested", "approved", "applied"]);
// approved or applied and no error: the pipeline is issuing it, the certificate follows within seconds
export const ISSUING = new Set(["approved", "applied"]);
export const HAS_CERTIFICATE = new Set(["issued", "downloaded", "revoked", "expired"]);
export const STATUSES = ["requested", "approved", "applied", "failed", "issued", "downloaded", "declined", "revoked",
                         "expired"];

// contracts/enrollment.py DOWNLOAD_FORMATS, in words
export const DOWNLOAD_FORMATS = [
  ["pem", "Certificate (PEM)"],
  ["der", "Certificate (DER)"],
  ["chain", "Certificate and issuing CA (PEM)"],
  ["fullchain", "Full chain: certificate, issuing CA and root (PEM)"],
  ["p7b", "PKCS#7 bundle (.p7b)"],
];

// contracts/ca.py LEAF_REVOCATION_REASONS (RFC 5280 reasons allowed for a subscriber certificate, BR 7.2.2)
export const REVOCATION_REASONS = [
  ["unspecified", "Unspecified"],
  ["key_compromise", "Key compromise"],
  ["affiliation_changed", "Affiliation changed"],
  ["superseded", "Superseded"],
  ["cessation_of_operation", "Cessation of operation"],
  ["privilege_withdrawn", "Privilege withdrawn"],
];

export const POLL_MS = 5000;
// while a request is being issued its page asks more often (the certificate follows within seconds), for a while
export const ISSUING_POLL_MS = 1000;
export const ISSUING_FAST_FOR_MS = 30_000;

// ---- names ---------------------------------------------------------------------------------------------------
// The organizations the admin sees (GET /api/v1/organizations is scoped), departments loaded per organization
// when needed, and the SSL profiles.
export class Directory {
  constructor(organizations, profiles) {
    this.organizations = new Map(organizations.map((o) => [o.organization_id, o]));
    this.profiles = new Map(profiles.map((p) => [p.profile_id, p]));
    this.departments = new Map();        // organization_id -> [departments] (loaded)
  }

  static async load() {
    const [organizations, profiles] = await Promise.all([
      listAll("/api/v1/organizations"),
      api("GET", "/api/v1/profiles").then((answer) => answer.items),
    ]);
    return new Directory(organizations, profiles);
  }

  sslProfiles() {
    return [...this.profiles.values()].filter((p) => p.cert_type === "ssl")
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  sortedOrganizations() {
    return [...this.organizations.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  async departmentsOf(organizationId) {
    if (!organizationId || !this.organizations.has(organizationId)) return [];
    if (!this.departments.has(organizationId)) {
      try {
        const org = await api("GET", `/api/v1/organizations/${organizationId}`);
        this.departments.set(organizationId, org.departments || []);
      } catch (ignored) {
        this.departments.set(organizationId, []);
      }
    }
    return this.departments.get(organizationId);
  }

  async loadDepartments(organizationIds) {
    await Promise.all([...new Set(organizationIds)].map((id) => this.departmentsOf(id)));
  }

  organizationName(id) {
    const found = this.organizations.get(id);
    return found ? found.name : null;
  }

  departmentName(organizationId, departmentId) {
    if (!departmentId) return null;
    const found = (this.departments.get(organizationId) || []).find((d) => d.department_id === departmentId);
    return found ? found.name : null;
  }

  // "Org / Department" in words; something the admin cannot see is never named by its id
  placeOf(ssl) {
    const org = this.organizationName(ssl.organization_id) ?? "(organization not visible to you)";
    if (!ssl.department_id) return org;
    return `${org} / ${this.departmentName(ssl.organization_id, ssl.department_id) ?? "(department not visible to you)"}`;
  }

  profileName(id) {
    const found = this.profiles.get(id);
    return found ? found.name : "(profile not visible to you)";
  }

  // The organizations this admin may request SSL certificates for, each with the departments allowed:
  // [{organization, departments (all of them, or the DRAO's), whole: may request without a department}]
  async requestable(me) {
    const mrao = isMrao(me);
    const raoOrgs = new Set(organizationIds(me, "ssl"));
    const draoDepartments = new Set(departmentIds(me, "ssl"));
    const out = [];
    for (const org of this.sortedOrganizations()) {
      const whole = mrao || raoOrgs.has(org.organization_id);
      if (!whole && draoDepartments.size === 0) continue;
      const departments = await this.departmentsOf(org.organization_id);
      const allowed = whole ? departments : departments.filter((d) => draoDepartments.has(d.department_id));
      if (whole || allowed.length) out.push({ organization: org, departments: allowed, whole });
    }
    return out;
  }
}

export function profileLabel(profile) {
  return `${profile.name} — ${profile.trust_class} trust, ${profile.requires_approval ? "needs approval" : "no approval needed"}`;
}

export function displayName(ssl) {
  return ssl.common_name || (ssl.sans && ssl.sans[0]) || "(no name)";
}

export function statusWords(status) {
  return String(status || "").replaceAll("_", " ");
}

// A status badge of the SSL screens: `failed` has its own colour here (css/ssl.css), apart from the ends of a
// certificate's life (declined, revoked, expired) — it asks for an action: approve again or decline.
export function sslBadge(status) {
  const element = badge(status);
  element.classList.add("ssl-badge");
  return element;
}

// ---- the answers of an issuance -------------------------------------------------------------------------------
// POST a request, an approval, a renewal or a replacement: {ssl (the SSL view), id, issuing (true: recorded and
// still on its way to the CA — a 202, or a 200/201 whose status is not final)}. A refusal throws the ApiError.
export async function submitIssuance(path, json) {
  const response = await api("POST", path, { json, raw: true });
  let ssl = null;
  try {
    ssl = await response.json();
  } catch (ignored) {
    ssl = null;
  }
  const location = response.headers.get("Location") || "";
  const id = (ssl && ssl.ssl_id) || decodeURIComponent(location.split("/").filter(Boolean).pop() || "");
  const status = ssl && ssl.status;
  return { ssl, id, issuing: response.status === 202 || ISSUING.has(status) };
}

// The findings of a refused issuance ({severity, code, message, path}) as a table.
export function findingsTable(findings, testid = "ssl-findings") {
  return table({
    testid,
    caption: "Findings",
    columns: [
      { label: "Severity", value: (f) => h("span", { class: `ssl-severity ssl-severity-${String(f.severity || "").toLowerCase()}` },
                                          f.severity || "—") },
      { label: "Code", value: (f) => (f.code ? h("code", {}, f.code) : "—") },
      { label: "Message", value: (f) => f.message || "" },
      { label: "Where", value: (f) => (f.path ? h("code", { class: "ssl-finding-path" }, f.path) : "—") },
    ],
    rows: findings || [],
    empty: "The CA gave no findings.",
  });
}

function findingsOf(error) {
  const details = error && error.details;
  return details && typeof details === "object" && !Array.isArray(details) && Array.isArray(details.findings)
    ? details : null;
}

// Where a refusal with findings is shown (a lint failure, the CA's own rules): under the form that was sent, the
// findings as a table and, when the request was recorded (it is `failed` now), a link to it.
// take(error) draws it and returns the error for the form's error box (its message, code and correlation id;
// the findings are not repeated there), or returns any other error as it is.
export function refusalPanel(testid = "ssl-refusal") {
  const el = h("div", { class: "ssl-refusal", "aria-live": "polite", "data-testid": testid });
  return {
    el,
    clear() { clear(el); },
    take(error) {
      const details = findingsOf(error);
      if (!details) return error;
      const sslId = details.ssl_id;
      clear(el, h("div", { class: "card ssl-refusal-card" },
        h("h3", {}, sslId ? "The request was recorded, and the CA refused to issue it" : "The CA refused to issue it"),
        h("p", {}, sslId
          ? "It is now failed. Fix what the findings name, then another administrator can approve it again (a retry), or decline it."
          : "Nothing was recorded. Fix what the findings name and send it again."),
        findingsTable(details.findings),
        sslId ? h("p", {}, link(`#/ssl/${encodeURIComponent(sslId)}`, "Open the failed request",
                                { class: "button", "data-testid": "ssl-failed-link" })) : null));
      const rest = Object.fromEntries(Object.entries(details).filter(([key]) => key !== "findings" && key !== "ssl_id"));
      return { message: error.message, code: error.code, status: error.status, correlationId: error.correlationId,
               details: Object.keys(rest).length ? rest : null };
    },
  };
}

export function colonHex(hex) {
  return String(hex || "").toUpperCase().match(/.{1,2}/g)?.join(":") ?? "";
}

// "2026-01-31" (a date input) -> "2026-01-31T00:00:00Z"; an ISO timestamp kept if it is already that day
export function isoOfDate(value, previous) {
  if (!value) return undefined;
  if (previous && String(previous).slice(0, 10) === value) return previous;
  return `${value}T00:00:00Z`;
}

export function dateOfIso(value) {
  return value ? String(value).slice(0, 10) : "";
}

export function linesOf(text) {
  return String(text || "").split(/[\n,]+/).map((s) => s.trim()).filter(Boolean);
}

// ---- the CSR: paste, upload or generate -------------------------------------------------------------------
// csrInput({names: () => ({commonName, sans}), optional, optionalLabel, testid}) -> {el, csr(): Promise<string|null>}
// `optional`: a fourth choice (Renew: "keep the current key": no CSR sent). The private key of a generated CSR
// is offered as a download and kept only in this page's memory while it is shown; only the CSR is sent.
export function csrInput({ names = () => ({ commonName: "", sans: [] }), optional = false,
                          optionalLabel = "Keep the current key (no new CSR)", testid = "csr" } = {}) {
  const group = uid("csr-mode");
  const modes = [
    ...(optional ? [["keep", optionalLabel]] : []),
    ["paste", "Paste a CSR"],
    ["upload", "Upload a CSR file"],
    ["generate", "Generate the key and CSR in the browser"],
  ];
  let mode = modes[0][0];
  let generated = null;            // {csrPem, privateKeyPem, keyType} of the last generation

  const radios = modes.map(([value, text]) => {
    const id = uid("csr-mode");
    const input = h("input", { type: "radio", id, name: group, value, checked: value === mode,
                               "data-testid": `${testid}-mode-${value}` });
    input.addEventListener("change", () => { if (input.checked) { mode = value; show(); } });
    return h("div", { class: "field checkbox" }, input, h("label", { for: id }, text));
  });

  const pasteId = uid("csr-text");
  const paste = h("textarea", { id: pasteId, rows: 8, class: "mono", "data-testid": `${testid}-text`,
                                placeholder: "-----BEGIN CERTIFICATE REQUEST-----" });
  const pastePart = h("div", { class: "field" }, h("label", { for: pasteId }, "CSR (PEM)"), paste);

  const fileId = uid("csr-file");
  const file = h("input", { id: fileId, type: "file", accept: ".csr,.pem,.req,.der,.p10",
                            "data-testid": `${testid}-file` });
  const uploadPart = h("div", { class: "field" }, h("label", { for: fileId }, "CSR file (PEM or DER)"), file,
                       h("p", { class: "help" }, "The file is read here and its CSR sent with the request."));

  const keyId = uid("csr-key");
  const keyType = h("select", { id: keyId, "data-testid": `${testid}-key-type` },
    KEY_TYPES.map((k) => h("option", { value: k.id, selected: k.id === DEFAULT_KEY_TYPE }, k.label)));
  const generatedOut = h("div", { class: "ssl-generated", "aria-live": "polite" });
  const generateButton = h("button", { type: "button", class: "primary", "data-testid": `${testid}-generate` },
                           "Generate key and CSR");
  const againButton = h("button", { type: "button", hidden: true, "data-testid": `${testid}-key-again` },
                        "Download the private key again");
  generateButton.addEventListener("click", async () => {
    generateButton.disabled = true;
    clear(generatedOut);
    try {
      const { commonName, sans } = names();
      generated = await generateCsr({ keyType: keyType.value, commonName, sans, subject: {} });
      downloadKey();
      againButton.hidden = false;
      clear(generatedOut,
        notice(`A ${labelOfKeyType(generated.keyType)} key was generated and its private key downloaded as ` +
               `${keyFileName()}. Keep that file: Certplane never receives it and cannot give it to you again.`,
               "success"),
        h("details", { class: "ssl-csr-preview" }, h("summary", {}, "The CSR that will be sent"),
          h("pre", { class: "mono", "data-testid": `${testid}-generated` }, generated.csrPem)));
    } catch (error) {
      generated = null;
      againButton.hidden = true;
      clear(generatedOut, notice(`The CSR could not be generated: ${error.message}`, "error"));
    } finally {
      generateButton.disabled = false;
    }
  });
  againButton.addEventListener("click", () => { if (generated) downloadKey(); });
  keyType.addEventListener("change", () => { generated = null; againButton.hidden = true; clear(generatedOut); });

  function keyFileName() {
    const { commonName, sans } = names();
    const base = (commonName || (sans && sans[0]) || "certificate").replace(/[^A-Za-z0-9._-]+/g, "_");
    return `${base}.key`;
  }

  function downloadKey() {
    downloadText(keyFileName(), generated.privateKeyPem, "application/x-pem-file");
  }

  const generatePart = h("div", { class: "ssl-generate" },
    notice("The private key is made in this browser and never leaves it: only the CSR is sent to Certplane, and " +
           "the key is not kept anywhere — download it and store it safely. Fill in the common name and the " +
           "subject alternative names before generating: the CSR is made for them.", "warning"),
    h("div", { class: "field" }, h("label", { for: keyId }, "Key type"), keyType),
    h("div", { class: "actions" }, generateButton, againButton), generatedOut);

  const body = h("div", { class: "ssl-csr-body" });
  function show() {
    clear(body, mode === "paste" ? pastePart : mode === "upload" ? uploadPart : mode === "generate" ? generatePart
      : h("p", { class: "help" }, "The certificate is renewed for the key of the current CSR."));
  }
  show();

  const el = h("fieldset", { class: "ssl-csr", "data-testid": testid },
    h("legend", {}, "Certificate signing request (CSR)"), h("div", { class: "ssl-csr-modes" }, radios), body);

  async function csr() {
    if (mode === "keep") return null;
    if (mode === "paste") {
      const text = paste.value.trim();
      if (!text) throw fieldError("Paste the CSR (PEM), upload a file or generate one in the browser.");
      return text;
    }
    if (mode === "upload") {
      const chosen = file.files[0];
      if (!chosen) throw fieldError("Choose the CSR file to upload.");
      return readCsrFile(chosen);
    }
    if (!generated) throw fieldError("Generate the key and CSR first (the button above), or paste or upload a CSR.");
    return generated.csrPem;
  }

  return { el, csr, forget: () => { generated = null; } };
}

function labelOfKeyType(id) {
  const found = KEY_TYPES.find((k) => k.id === id);
  return found ? found.label.replace(/ \(recommended\)$/, "") : id;
}

function fieldError(message) {
  return { message, code: "csr_missing" };
}

// A PEM file as its text; a DER file as base64 (the API takes both)
async function readCsrFile(chosen) {
  const bytes = new Uint8Array(await chosen.arrayBuffer());
  const text = new TextDecoder("utf-8", { fatal: false }).decode(bytes);
  if (text.includes("-----BEGIN")) return text.trim();
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary);
}
