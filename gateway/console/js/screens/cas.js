// Certificate authorities (SCM: Settings > CAs): the list and the CA's page for every administrator — its
// certificate, chain and CRL as plain links the browser downloads — and, for MRAOs only, Add issuing CA,
// Reissue and revocation under dual control (one MRAO asks with a reason, ANOTHER approves; anyone may reject,
// the requester may withdraw). The server decides every action (403 own_request for one's own approval).
import { api, urlOf } from "../api.js";
import { navigate, screen } from "../router.js";
import { actionButton, badge, clear, confirmDialog, definitionList, field, fmtDate, form, h, link, notice, section,
         table } from "../ui.js";
import { isMrao } from "../session.js";

const KEY_ALGORITHMS = [["ec-p256", "ECDSA P-256"], ["ec-p384", "ECDSA P-384"], ["rsa-3072", "RSA 3072 bits"],
                        ["rsa-4096", "RSA 4096 bits"]];
// BR 7.2.2 reasons for a CA certificate (contracts/ca.py CA_REVOCATION_REASONS)
const REASONS = [["unspecified", "Unspecified"], ["key_compromise", "Key compromise"],
                 ["ca_compromise", "CA compromise"], ["affiliation_changed", "Affiliation changed"],
                 ["superseded", "Superseded"], ["cessation_of_operation", "Cessation of operation"],
                 ["privilege_withdrawn", "Privilege withdrawn"]];

function reasonText(reason) {
  return (REASONS.find(([r]) => r === reason) || [reason, reason])[1];
}

function keyText(algorithm) {
  return (KEY_ALGORITHMS.find(([a]) => a === algorithm) || [algorithm, algorithm])[1];
}

function validity(item) {
  return `${fmtDate(item.not_before)} – ${fmtDate(item.not_after)}`;
}

function slug(name) {
  return String(name).toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "") || "ca";
}

function statusBadges(ca) {
  return h("span", { class: "badges" }, badge(ca.status),
    ca.revocation && ca.revocation.status === "requested" ? [" ", badge("revocation_requested")] : null,
    ca.default ? [" ", h("span", { class: "badge tag-default" }, "default")] : null);
}

// who asked: the admin's username when this admin may read it, else the id
async function adminName(adminId) {
  if (!adminId) return "";
  try {
    const admin = await api("GET", `/api/v1/admins/${adminId}`);
    return admin.username || adminId;
  } catch (ignored) {
    return adminId;
  }
}

screen({
  path: "/cas",
  title: "Certificate authorities",
  nav: { label: "CAs", order: 65 },
  async render(ctx) {
    const found = await api("GET", "/api/v1/cas");
    const byId = Object.fromEntries(found.items.map((c) => [c.ca_id, c]));
    // roots first, each followed by its issuing CAs
    const roots = found.items.filter((c) => c.kind === "root");
    const ordered = [...roots.flatMap((r) => [r, ...found.items.filter((c) => c.parent_ca_id === r.ca_id)]),
                     ...found.items.filter((c) => c.kind !== "root" && !byId[c.parent_ca_id])];
    clear(ctx.main,
      h("div", { class: "page-head" }, h("h1", {}, "Certificate authorities"),
        ctx.isMrao ? link("#/cas/new", "Add issuing CA", { class: "button primary", "data-testid": "ca-add" }) : null),
      table({
        testid: "ca-rows",
        columns: [
          { label: "Name", value: (c) => h("span", { class: c.kind === "issuing" ? "ca-child" : null },
                                                link(`#/cas/${c.ca_id}`, c.name)) },
          { label: "Kind", value: (c) => c.kind },
          { label: "Subject", value: (c) => h("span", { class: "mono wrap" }, c.subject) },
          { label: "Key", value: (c) => keyText(c.key_algorithm) },
          { label: "Valid", value: (c) => validity(c) },
          { label: "Status", value: (c) => statusBadges(c) },
        ],
        rows: ordered,
        empty: "No CAs.",
      }));
  },
});

screen({
  path: "/cas/new",
  title: "Add issuing CA",
  async render(ctx) {
    if (!ctx.isMrao) {
      clear(ctx.main, h("h1", {}, "Add issuing CA"), notice("Adding a CA is for MRAO administrators."));
      return;
    }
    const found = await api("GET", "/api/v1/cas");
    const roots = found.items.filter((c) => c.kind === "root" && c.status === "active");
    clear(ctx.main, h("h1", {}, "Add issuing CA"), section(null,
      h("p", { class: "muted" }, "A new issuing CA signed by a root: profiles that name it issue their ",
        "certificates from it."),
      form({
        testid: "ca-form",
        submitLabel: "Add issuing CA",
        fields: [
          field({ name: "name", label: "Name", required: true, maxlength: 64, testid: "ca-name" }),
          field({ name: "parent_ca_id", label: "Root CA (signs it)", type: "select", required: true,
                  options: roots.map((r) => [r.ca_id, r.name]), testid: "ca-parent" }),
          field({ name: "key_algorithm", label: "Key algorithm", type: "select", value: "ec-p256",
                  options: KEY_ALGORITHMS, testid: "ca-key" }),
        ],
        onSubmit: async (values) => {
          const created = await api("POST", "/api/v1/cas", { json: { name: values.name,
            parent_ca_id: values.parent_ca_id || null, key_algorithm: values.key_algorithm } });
          navigate(`/cas/${created.ca_id}`);
        },
        secondary: [link("#/cas", "Cancel", { class: "button" })],
      })));
  },
});

screen({
  path: "/cas/:id",
  title: "Certificate authority",
  async render(ctx) {
    const id = ctx.params.id;
    const [ca, all] = await Promise.all([api("GET", `/api/v1/cas/${id}`), api("GET", "/api/v1/cas")]);
    const parent = ca.parent_ca_id ? all.items.find((c) => c.ca_id === ca.parent_ca_id) : null;
    const children = all.items.filter((c) => c.parent_ca_id === ca.ca_id);
    const mrao = isMrao(ctx.me);
    const name = slug(ca.name);
    const parts = [
      h("div", { class: "page-head" }, h("h1", {}, ca.name), statusBadges(ca)),
      definitionList([
        ["Kind", ca.kind],
        ["Subject", h("span", { class: "mono wrap" }, ca.subject)],
        ["Signed by", parent ? link(`#/cas/${parent.ca_id}`, parent.name) : (ca.kind === "root" ? "itself (root)" : "")],
        ["Issuing CAs under it", children.length ? children.map((c, i) => [i ? ", " : "", link(`#/cas/${c.ca_id}`, c.name)]) : null],
        ["Key", keyText(ca.key_algorithm)],
        ["Serial", h("span", { class: "mono wrap" }, ca.serial)],
        ["Valid", validity(ca)],
        ["SHA-256 fingerprint", h("span", { class: "mono wrap" }, ca.sha256_fingerprint)],
        ["Default issuing CA", ca.kind === "issuing" ? (ca.default ? "yes" : "no") : null],
      ]),
      section("Download",
        h("ul", { class: "downloads", "data-testid": "ca-downloads" },
          h("li", {}, h("a", { href: urlOf(`/ca/${id}.crt`, { format: "pem" }), download: `${name}.pem`,
                               "data-testid": "download-pem" }, "Certificate (PEM)")),
          h("li", {}, h("a", { href: urlOf(`/ca/${id}.crt`), download: `${name}.crt`, "data-testid": "download-der" },
                        "Certificate (DER)")),
          h("li", {}, h("a", { href: urlOf(`/ca/${id}.crt`, { format: "chain" }), download: `${name}-chain.pem`,
                               "data-testid": "download-chain" }, "Chain: this CA and its parents (PEM)")),
          h("li", {}, h("a", { href: urlOf(`/crl/${id}.crl`), download: `${name}.crl`, "data-testid": "download-crl" },
                        "CRL (DER)"))),
        h("p", { class: "help" }, "These addresses are public: relying parties fetch them without logging in.")),
      section("Certificates of this CA's key", table({
        testid: "ca-certificates",
        columns: [
          { label: "Serial", value: (c) => h("span", { class: "mono wrap" }, c.serial) },
          { label: "Valid", value: (c) => validity(c) },
          { label: "Current", value: (c) => (c.current ? "current" : "earlier") },
          { label: "Download", value: (c) => h("span", { class: "actions" },
            h("a", { href: urlOf(`/ca/${id}.crt`, { format: "pem", serial: c.serial }),
                     download: `${name}-${c.serial.slice(0, 8)}.pem` }, "PEM"), " ",
            h("a", { href: urlOf(`/ca/${id}.crt`, { serial: c.serial }),
                     download: `${name}-${c.serial.slice(0, 8)}.crt` }, "DER")) },
        ],
        rows: [...ca.certificates].reverse(),
      })),
    ];
    parts.push(await revocationSection(ctx, ca, mrao));
    if (mrao && ca.status === "active") {
      parts.push(section("Reissue",
        h("p", {}, "A new certificate for the same key, with a new validity",
          ca.kind === "issuing" ? " and the current CRL, OCSP and CA-issuer links" : "",
          ". Chains name it from now on; earlier certificates stay listed above."),
        actionButton("Reissue certificate", async () => {
          await api("POST", `/api/v1/cas/${id}/reissue`);
          ctx.refresh();
        }, { testid: "ca-reissue", confirm: `Reissue the certificate of ${ca.name}?` })));
    }
    parts.push(h("p", {}, link("#/cas", "All CAs")));
    clear(ctx.main, ...parts);
  },
});

async function revocationSection(ctx, ca, mrao) {
  const id = ca.ca_id;
  const revocation = ca.revocation;
  if (ca.status === "revoked" || (revocation && revocation.status === "revoked")) {
    const [asker, approver] = await Promise.all([adminName(revocation?.requested_by),
                                                 adminName(revocation?.approved_by)]);
    return section("Revocation", notice(`Revoked ${fmtDate(revocation?.revoked_at)} (${reasonText(revocation?.reason)}): ` +
      `asked by ${asker}, approved by ${approver}. The CA signs nothing more; its CRL is still published.`, "warning"));
  }
  if (ca.kind === "root") {
    return section("Revocation", h("p", { class: "muted" }, "A root CA is not revocable."));
  }
  if (revocation && revocation.status === "requested") {
    const asker = await adminName(revocation.requested_by);
    const own = revocation.requested_by === ctx.me.admin_id;
    const pending = h("div", { class: "alert warning", role: "status", "data-testid": "revocation-pending" },
      h("p", {}, h("strong", {}, "Revocation requested"), ` by ${asker} on ${fmtDate(revocation.requested_at)}`,
        ` — reason: ${reasonText(revocation.reason)}.`),
      h("p", {}, own ? "Another MRAO must approve it (dual control); you may withdraw it."
                     : "It takes effect when another MRAO than the requester approves it."));
    if (!mrao) return section("Revocation", pending);
    const message = h("input", { id: "ca-decision-message", name: "message", maxlength: 500,
                                 "data-testid": "revocation-message" });
    const decide = (action) => async () => {
      await api("POST", `/api/v1/cas/${id}/revoke/${action}`, { json: { message: message.value || null } });
      ctx.refresh();
    };
    return section("Revocation", pending,
      h("div", { class: "field" }, h("label", { for: "ca-decision-message" }, "Message (optional, kept with the decision)"),
        message),
      h("div", { class: "actions" },
        own ? null : actionButton("Approve revocation", decide("approve"), { kind: "danger", testid: "revocation-approve",
          confirm: `Revoke ${ca.name}? Every certificate of its key is revoked and it signs nothing more.` }),
        actionButton(own ? "Withdraw request" : "Reject revocation", decide("reject"),
                     { testid: "revocation-reject" })));
  }
  if (!mrao) return section("Revocation", h("p", { class: "muted" }, "Not revoked."));
  return section("Revocation",
    h("p", {}, "Revoking an issuing CA needs two MRAOs: you ask with a reason, another MRAO approves."),
    form({
      testid: "revocation-form",
      submitLabel: "Ask to revoke",
      fields: [field({ name: "reason", label: "Reason", type: "select", value: "unspecified", options: REASONS,
                       testid: "revocation-reason" })],
      onSubmit: async (values) => {
        if (!(await confirmDialog(`Ask to revoke ${ca.name}?`, { confirmLabel: "Ask to revoke" }))) return;
        await api("POST", `/api/v1/cas/${id}/revoke`, { json: { reason: values.reason } });
        ctx.refresh();
      },
    }));
}
