// Key escrow (issue 15; SCM: Settings > Organizations > Key escrow, "Initialize encryption"): the section on an
// organization's page, for an organization created with key escrow. It says whether the encryption is initialized
// (the master PUBLIC key's SHA-256, who and when) and, until it is, offers "Initialize encryption": with a
// passphrase (typed twice) the server makes the master key pair and answers the private key ONCE, encrypted with
// the passphrase — shown here in a panel with copy and download buttons and the warning that it is never shown
// again (no later answer holds it: a reload shows only the status) — or with a public key the administrator made
// (RSA ≥ 3072). Until then the organization gets no client certificates. Who may initialize it is who may recover
// its keys (the server decides: 403 not_a_key_recovery_admin).
// And the recovery panel of an escrowed client certificate's page (certificates.js): ask with a reason; approve
// when another administrator asked (dual control); receive the key as PKCS#12 with the master private key.
import { api } from "../api.js";
import { actionButton, clear, copyButton, definitionList, errorBox, field, fmtDate, form, h, notice,
         uid } from "../ui.js";

const MIN_PASSPHRASE = 12;       // services/enrollment/escrow.py MIN_PASSPHRASE (the server refuses shorter ones)

function shortHex(hex) {
  return hex ? String(hex).replace(/(..)(?!$)/g, "$1:") : "";
}

// A file the browser saves from text or bytes it holds (no URL of the server serves it again).
export function saveFile(name, content, type = "application/octet-stream") {
  const url = URL.createObjectURL(content instanceof Blob ? content : new Blob([content], { type }));
  const anchor = h("a", { href: url, download: name, hidden: true });
  document.body.append(anchor);
  anchor.click();
  anchor.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

function fileName(text) {
  return String(text || "key").toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "") || "key";
}

// The private key, shown this once.
function privateKeyPanel(org, answer) {
  const pem = answer.private_key_pem;
  const download = h("button", { type: "button", class: "primary", "data-testid": "escrow-key-download",
                                 onclick: () => saveFile(`${fileName(org.name)}-escrow-master-key.pem`, pem,
                                                         "application/x-pem-file") },
                     "Download the private key");
  return h("div", { class: "secret-once escrow-secret", role: "status", "data-testid": "escrow-private-key-panel" },
    h("p", {}, h("strong", {}, "The master private key of this organization."), " ",
      answer.note || "Certplane does not keep it: store it offline now. Without it no escrowed key can be recovered."),
    h("p", { "data-testid": "escrow-never-again" }, "It is never shown again: not after a reload, not to anyone. ",
      "It is encrypted with the passphrase you typed; you need both to recover a key."),
    h("pre", { class: "mono escrow-pem", "data-testid": "escrow-private-key", tabindex: "0" }, pem),
    h("div", { class: "actions" }, download, copyButton(pem, "Copy the private key")));
}

function status(escrow, adminName) {
  if (!escrow.initialized) {
    return notice("Encryption is not initialized: this organization gets no client certificates until an " +
                  "administrator who recovers keys initializes it.", "warning");
  }
  return definitionList([
    ["Encryption", h("span", { "data-testid": "escrow-initialized" }, "initialized")],
    ["Master key made by", escrow.key_origin === "server" ? "Certplane (its private key was shown once)"
      : escrow.key_origin === "administrator" ? "an administrator (their public key)" : escrow.key_origin],
    ["Public key SHA-256", escrow.public_key_sha256 ? h("code", { class: "mono escrow-fingerprint" },
                                                        shortHex(escrow.public_key_sha256)) : null],
    ["Initialized by", adminName(escrow.initialized_by)],
    ["Initialized", fmtDate(escrow.initialized_at)],
  ]);
}

function options(escrow) {
  const o = escrow.options || {};
  const who = [o.recovery_by_mrao ? "MRAO administrators" : null,
               o.recovery_by_organization_admins ? "this organization's administrators (client, “download keys”)" : null]
    .filter(Boolean);
  return h("p", { class: "muted" }, "Client certificates' private keys are escrowed to the organization's master key. ",
           who.length ? `Keys can be recovered by ${who.join(" and ")}, with a second administrator's approval.` : "");
}

// The "Initialize encryption" forms: a passphrase (the server makes the pair), or your own public key.
function initializeForms(ctx, org, place) {
  const url = `/api/v1/organizations/${org.organization_id}/key-escrow`;
  const made = form({
    testid: "escrow-initialize",
    submitLabel: "Initialize encryption",
    fields: [
      h("p", {}, "Certplane makes an RSA-3072 master key pair and shows its private key to you once, encrypted with ",
        "this passphrase. Certplane keeps only the public key."),
      h("div", { class: "row" },
        field({ name: "passphrase", label: "Passphrase", type: "password", required: true, autocomplete: "new-password",
                testid: "escrow-passphrase", help: `at least ${MIN_PASSPHRASE} characters; you need it to recover a key` }),
        field({ name: "confirm", label: "Passphrase again", type: "password", required: true,
                autocomplete: "new-password", testid: "escrow-passphrase-confirm" })),
    ],
    onSubmit: async (values) => {
      if (values.passphrase !== values.confirm) {
        throw { message: "the passphrase and its confirmation differ", details: { confirm: ["differs"] } };
      }
      const answer = await api("POST", url, { json: { passphrase: values.passphrase } });
      // not ctx.refresh(): the key is in this answer only
      show(place, ctx, org, answer, answer.private_key_pem ? privateKeyPanel(org, answer) : null);
    },
  });
  const own = form({
    testid: "escrow-public-key",
    submitLabel: "Initialize with this public key",
    fields: [field({ name: "public_key_pem", label: "Public key (PEM, RSA 3072 bits or more)", type: "textarea",
                     rows: 5, mono: true, required: true, testid: "escrow-public-key-pem",
                     placeholder: "-----BEGIN PUBLIC KEY-----" })],
    onSubmit: async (values) => {
      const answer = await api("POST", url, { json: { public_key_pem: values.public_key_pem.trim() } });
      show(place, ctx, org, answer, notice("Encryption initialized with your public key.", "success"));
    },
  });
  return [made, h("details", { class: "escrow-own" }, h("summary", {}, "…or use a key pair you made yourself"), own)];
}

function show(place, ctx, org, escrow, top = null) {
  const adminName = (id) => (!id ? null : id === ctx.me.admin_id ? ctx.me.username : "another administrator");
  clear(place, h("h2", {}, "Key escrow"), top, options(escrow), status(escrow, adminName),
        escrow.initialized ? null : initializeForms(ctx, org, place));
}

// The section for an organization's page (nothing for an organization without key escrow).
export function escrowSection(ctx, org) {
  if (!org.key_escrow || !org.key_escrow.enabled) return null;
  const place = h("section", { class: "card escrow", "data-testid": "escrow-section" }, h("h2", {}, "Key escrow"),
                  h("p", { class: "loading-inline muted" }, "Loading…"));
  api("GET", `/api/v1/organizations/${org.organization_id}/key-escrow`)
    .then((escrow) => { if (ctx.current()) show(place, ctx, org, escrow); })
    .catch((error) => clear(place, h("h2", {}, "Key escrow"), errorBox(error)));
  return place;
}

// ---- recovery of an escrowed client key (a certificate's page) --------------------------------------------------
const RECOVERY_WORDS = { requested: "asked, waiting for a second administrator's approval",
                         approved: "approved: the administrator who asked can receive the key",
                         recovered: "recovered (the certificate was revoked)" };

export function recoverySection(ctx, cert, { adminName, title }) {
  const base = `/api/v1/client/${cert.cert_id}/recovery`;
  const recovery = cert.recovery || null;
  const mine = recovery && recovery.requested_by === ctx.me.admin_id;
  const parts = [h("p", { class: "muted" }, "This certificate's private key is escrowed to the organization's master ",
                   "key. Recovering it needs two administrators: one asks, another approves, the one who asked ",
                   "receives the key (PKCS#12) with the master private key — and the certificate is revoked.")];
  if (recovery) {
    parts.push(definitionList([
      ["Recovery", h("span", { "data-testid": "recovery-status" }, RECOVERY_WORDS[recovery.status] || recovery.status)],
      ["Asked by", adminName(recovery.requested_by)],
      ["Reason", recovery.reason],
      ["Approved by", adminName(recovery.approved_by)],
    ]));
  }
  if (!recovery) {
    parts.push(form({
      testid: "recovery-request",
      submitLabel: "Ask to recover the key",
      fields: [field({ name: "reason", label: "Reason", type: "textarea", rows: 2, required: true, maxlength: 1024,
                       testid: "recovery-reason", help: "e.g. the person left and their mail must be read" })],
      onSubmit: async (values) => {
        await api("POST", base, { json: { reason: values.reason } });
        ctx.refresh();
      },
    }));
  } else if (recovery.status === "requested" && !mine) {
    parts.push(actionButton("Approve the recovery", async () => {
      await api("POST", `${base}/approve`);
      ctx.refresh();
    }, { kind: "primary", testid: "recovery-approve",
         confirm: `Approve the recovery of the key of ${title}? The administrator who asked receives it.` }));
  } else if (recovery.status === "requested") {
    parts.push(notice("You asked for this recovery: another administrator approves it.", "info"));
  } else if (recovery.status === "approved" && mine) {
    parts.push(receiveForm(ctx, cert, base, title));
  } else if (recovery.status === "approved") {
    parts.push(notice("Approved: the administrator who asked receives the key.", "info"));
  }
  return h("section", { class: "card recovery", "data-testid": "recovery-section" }, h("h2", {}, "Key recovery"),
           parts);
}

function receiveForm(ctx, cert, base, title) {
  const fileId = uid("master-key-file");
  return form({
    testid: "recovery-key",
    submitLabel: "Receive the key (PKCS#12)",
    fields: [
      h("div", { class: "field" }, h("label", { for: fileId }, "Master private key file (PEM)"),
        h("input", { type: "file", id: fileId, name: "master_key_file", accept: ".pem,.key,text/plain",
                     "data-testid": "recovery-master-file" })),
      field({ name: "master_private_key_pem", label: "…or paste the master private key (PEM)", type: "textarea",
              rows: 5, mono: true, testid: "recovery-master-pem", placeholder: "-----BEGIN ENCRYPTED PRIVATE KEY-----",
              help: "sent for this one decryption, never kept" }),
      field({ name: "passphrase", label: "Its passphrase", type: "password", autocomplete: "off",
              testid: "recovery-passphrase" }),
      h("div", { class: "row" },
        field({ name: "pkcs12_password", label: "PKCS#12 password", type: "password", required: true,
                autocomplete: "new-password", testid: "recovery-pkcs12-password",
                help: "protects the file you receive" }),
        field({ name: "pkcs12_confirm", label: "PKCS#12 password again", type: "password", required: true,
                autocomplete: "new-password", testid: "recovery-pkcs12-confirm" })),
      notice("Receiving the key revokes this certificate (key compromise).", "warning"),
    ],
    onSubmit: async (values) => {
      const pem = values.master_key_file ? await values.master_key_file.text() : (values.master_private_key_pem || "");
      if (!pem.trim()) throw { message: "choose the master private key file or paste it",
                               details: { master_private_key_pem: ["required"] } };
      if (values.pkcs12_password !== values.pkcs12_confirm) {
        throw { message: "the PKCS#12 password and its confirmation differ", details: { pkcs12_confirm: ["differs"] } };
      }
      const response = await api("POST", `${base}/key`, { raw: true, json: {
        master_private_key_pem: pem.trim(), passphrase: values.passphrase || null,
        pkcs12_password: values.pkcs12_password } });
      saveFile(`${fileName(title)}.p12`, await response.blob(), "application/x-pkcs12");
      ctx.refresh();
    },
  });
}
