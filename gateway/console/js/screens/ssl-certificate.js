// An SSL certificate's page (SCM: the certificate's details): its status, the request, the certificate decoded
// by the server (GET …/details), the issuer and chain, the history as a timeline (GET …/history), and the actions
// its status and the admin's rights allow: Approve / Decline (not on one's own request), Download in every
// format, Revoke with a reason, Renew and Replace (with the CSR widget of the wizard). Live while in progress:
// an answer of 202 (issue 13) brings the admin here while the request is applied ("issuing…"), and the page turns
// issued by itself. A request the CA refused after it was recorded is `failed`: its error and findings are shown,
// and it can be approved again (a retry, by another administrator than the requester) or declined.
import { api, urlOf } from "../api.js";
import { navigate, screen } from "../router.js";
import { actionButton, clear, confirmDialog, definitionList, field, fmtDate, form, h, link, notice,
         section } from "../ui.js";
import { DOWNLOAD_FORMATS, Directory, HAS_CERTIFICATE, ISSUING, ISSUING_FAST_FOR_MS, ISSUING_POLL_MS, PENDING, POLL_MS,
         REVOCATION_REASONS, colonHex, csrInput, displayName, findingsTable, refusalPanel, sslBadge, statusWords,
         submitIssuance } from "./ssl-parts.js";

// What this page says once after an action that re-rendered it: {sslId, text, kind}
let flash = null;

screen({
  path: "/ssl/:id",
  title: "SSL certificate",
  async render(ctx) {
    const id = ctx.params.id;
    const [ssl, directory, history] = await Promise.all([
      api("GET", `/api/v1/ssl/${id}`),
      Directory.load(),
      api("GET", `/api/v1/ssl/${id}/history`).catch(() => null),
    ]);
    await directory.loadDepartments([ssl.organization_id]);
    let details = null;
    let detailsError = null;
    if (HAS_CERTIFICATE.has(ssl.status)) {
      try {
        details = await api("GET", `/api/v1/ssl/${id}/details`);
      } catch (error) {
        detailsError = error;
      }
    }
    const usernames = usernamesOf(history);
    const mine = ssl.requested_by === ctx.me.admin_id;
    const profile = directory.profiles.get(ssl.profile_id);

    const failed = ssl.status === "failed";
    const issuing = ISSUING.has(ssl.status) && !ssl.last_error;
    const parts = [
      h("div", { class: "page-head" }, h("h1", {}, displayName(ssl)),
        h("span", { "data-testid": "ssl-status" }, sslBadge(ssl.status))),
      h("p", {}, link("#/ssl", "← SSL certificates")),
    ];
    if (flash && flash.sslId === id) parts.push(notice(flash.text, flash.kind));
    flash = null;
    if (ssl.status === "requested") {
      parts.push(notice(mine ? "Waiting for approval by another administrator." : "Waiting for approval.", "info"));
    } else if (issuing) {
      parts.push(h("div", { class: "alert info ssl-issuing", role: "status", "data-testid": "ssl-issuing" },
        h("span", { class: "ssl-spinner", "aria-hidden": "true" }),
        "Issuing… the certificate follows within seconds; this page shows it when it is there."));
    }
    if (failed) {
      parts.push(h("div", { class: "alert error ssl-failed-note", role: "alert", "data-testid": "ssl-failed" },
        h("p", { class: "alert-message" }, "Issuance failed: the CA refused to issue this certificate after the request was recorded."),
        ssl.last_error ? h("p", { "data-testid": "ssl-last-error" }, ssl.last_error) : null,
        h("p", {}, mine
          ? "Once the cause is fixed another administrator can approve it again (a retry); or decline it."
          : "Once the cause is fixed, approve it again (a retry); or decline it.")));
    } else if (ssl.last_error) {
      parts.push(notice(`The CA refused or did not answer: ${ssl.last_error}`, "error"));
    }
    if (ssl.status === "declined") parts.push(notice(`Declined: ${ssl.declined_reason || "no reason given"}`, "warning"));
    if (ssl.status === "revoked") {
      parts.push(notice(`Revoked (${statusWords(ssl.revocation_reason || "unspecified")}).`, "warning"));
    }

    if (failed || (ssl.last_findings && ssl.last_findings.length)) {
      parts.push(h("section", { class: "card", "data-testid": "ssl-why-failed" }, h("h2", {}, "Why it failed"),
        findingsTable(ssl.last_findings || [])));
    }

    parts.push(actions(ctx, ssl, mine));

    parts.push(section("Request", definitionList([
      ["Status", sslBadge(ssl.status)],
      ["Common name", ssl.common_name || "(none)"],
      ["Subject alternative names", ssl.sans.length ? h("ul", { class: "ssl-names" }, ssl.sans.map((s) => h("li", {}, s))) : "(none)"],
      ["Organization / department", directory.placeOf(ssl)],
      ["Profile", profile ? `${profile.name} (${profile.trust_class} trust${profile.requires_approval ? ", needs approval" : ""})`
        : directory.profileName(ssl.profile_id)],
      ["Trust class", ssl.trust_class],
      ["Term", `${ssl.term_days} days`],
      ["Key type", ssl.key_type],
      ["Requested by", requesterOf(ssl, usernames, mine ? ctx.me.username : null)],
      ["Requested", fmtDate(ssl.created_at)],
      ["Approved by", ssl.approved_by ? (usernames.get(ssl.approved_by) || "another administrator") : null],
      ["External requester", ssl.external_requester],
      ["Comments", ssl.comments],
      ["Renew automatically", ssl.auto_renew ? "yes" : "no"],
      ["Renewal of", ssl.renewal_of ? link(`#/ssl/${ssl.renewal_of}`, "the certificate it renews") : null],
      ["Renewed by", ssl.renewed_by ? link(`#/ssl/${ssl.renewed_by}`, "its renewal") : null],
    ])));

    if (details) {
      parts.push(certificateSection(details.certificate, ssl));
      parts.push(section("Issuer and chain", chainList(details.chain)));
    } else if (detailsError) {
      parts.push(section("Certificate", notice(`The certificate could not be read: ${detailsError.message}`, "error")));
    } else {
      parts.push(section("Certificate", h("p", { class: "muted" }, "No certificate yet: it is shown here once issued.")));
    }

    parts.push(section("History", timeline(history)));
    clear(ctx.main, ...parts);

    // live: a request waiting, being issued or failed (another administrator may retry or decline it) is read
    // again; while it is being issued every second for a while, then every 5 s
    if (PENDING.has(ssl.status) || failed) {
      const started = Date.now();
      let round = 0;
      ctx.poll(async () => {
        round += 1;
        const every = issuing && Date.now() - started < ISSUING_FAST_FOR_MS ? 1 : POLL_MS / ISSUING_POLL_MS;
        if (round % every !== 0) return;
        const again = await api("GET", `/api/v1/ssl/${id}`, { background: true });
        if (again.status !== ssl.status || again.last_error !== ssl.last_error) ctx.refresh();
      }, ISSUING_POLL_MS);
    }
  },
});

// who requested it: an administrator by username; an ACME client as its ACME account (issue 14: requested_by
// acme:<acme_account_id>), linked to the account's page
function requesterOf(ssl, usernames, myName) {
  const acme = /^acme:([0-9a-f-]{36})$/.exec(ssl.requested_by || "");
  if (acme) {
    return h("span", { "data-testid": "ssl-requested-via" }, "an ACME client of ",
             link(`#/acme-accounts/${acme[1]}`, "its ACME account"), ` (requested via ${ssl.requested_by})`);
  }
  return usernames.get(ssl.requested_by) || myName || "another administrator";
}

function usernamesOf(history) {
  const names = new Map();
  for (const entry of (history && history.items) || []) {
    const by = entry.by || {};
    if (by.actor && by.username) names.set(by.actor, by.username);
  }
  return names;
}

// ---- actions -----------------------------------------------------------------------------------------------
function actions(ctx, ssl, mine) {
  const id = ssl.ssl_id;
  const blocks = [];
  const failed = ssl.status === "failed";
  const retry = failed || (ssl.status === "approved" && ssl.last_error);
  const approvable = ssl.status === "requested" || retry;
  // the requester never approves their own request; a failed one they may decline (withdraw) themselves
  if (approvable && (!mine || failed)) {
    blocks.push(h("div", { class: "ssl-action", "data-testid": "ssl-approval" },
      h("h3", {}, mine ? "Decline" : "Approve or decline"),
      mine ? h("p", { class: "muted" }, "You requested this certificate: another administrator approves it again.") : null,
      mine ? null : form({
        testid: "ssl-approve-form",
        submitLabel: retry ? "Approve again (retry)" : "Approve",
        fields: [field({ name: "message", label: "Message (shown in the history)", type: "textarea", rows: 2,
                         testid: "ssl-approve-message" })],
        onSubmit: async (values) => {
          try {
            // 200 issued, or 202 applied: the page shows it issued, or "issuing…" until it is
            await submitIssuance(`/api/v1/ssl/${id}/approve`, values.message ? { message: values.message } : {});
          } catch (error) {
            // recorded and refused by the CA (422 with this request's id): the page shows it failed, with the findings
            if (error && error.details && error.details.ssl_id === id) {
              flash = { sslId: id, kind: "warning",
                        text: "Your approval was recorded, but the CA refused to issue the certificate: see why below." };
            } else {
              throw error;
            }
          }
          ctx.refresh();
        },
      }),
      form({
        testid: "ssl-decline-form",
        submitLabel: "Decline",
        fields: [field({ name: "reason", label: "Reason for declining", type: "textarea", rows: 2, required: true,
                         testid: "ssl-decline-reason" })],
        onSubmit: async (values) => {
          await api("POST", `/api/v1/ssl/${id}/decline`, { json: { reason: values.reason } });
          ctx.refresh();
        },
      })));
  } else if (ssl.status === "requested" && mine) {
    blocks.push(h("p", { class: "muted" }, "You requested this certificate: another administrator approves or declines it."));
  }

  if (HAS_CERTIFICATE.has(ssl.status)) {
    blocks.push(h("div", { class: "ssl-action", "data-testid": "ssl-downloads" }, h("h3", {}, "Download"),
      h("ul", { class: "ssl-downloads" }, DOWNLOAD_FORMATS.map(([format, words]) => h("li", {},
        link(urlOf(`/api/v1/ssl/${id}/download`, { format }), words,
             { "data-testid": `ssl-download-${format}`, download: "" })))),
      ssl.status === "issued" ? h("p", { class: "help" }, "The first download marks the certificate downloaded.") : null));
  }

  if (ssl.status === "issued" || ssl.status === "downloaded") {
    const reasonId = "ssl-revoke-reason";
    const reason = h("select", { id: reasonId, "data-testid": "ssl-revoke-reason" },
      REVOCATION_REASONS.map(([value, words]) => h("option", { value }, words)));
    blocks.push(h("div", { class: "ssl-action", "data-testid": "ssl-revoke" }, h("h3", {}, "Revoke"),
      h("div", { class: "field" }, h("label", { for: reasonId }, "Reason (RFC 5280)"), reason),
      actionButton("Revoke certificate", async () => {
        const words = REVOCATION_REASONS.find(([v]) => v === reason.value)[1];
        const sure = await confirmDialog(`Revoke the certificate for ${displayName(ssl)}?`, {
          confirmLabel: "Revoke", body: h("p", {}, `Reason: ${words}. CRL and OCSP show it within a minute; ` +
                                           "a revocation cannot be undone.") });
        if (!sure) return;
        await api("POST", `/api/v1/ssl/${id}/revoke`, { json: { reason: reason.value } });
        ctx.refresh();
      }, { kind: "danger", testid: "ssl-revoke-button" })));
  }

  if (["issued", "downloaded", "expired"].includes(ssl.status) && !ssl.renewed_by) {
    blocks.push(renewBlock(ssl, false));
    if (ssl.status !== "expired") blocks.push(renewBlock(ssl, true));
  }
  if (!blocks.length) return null;
  return section("Actions", h("div", { class: "ssl-actions" }, blocks));
}

function renewBlock(ssl, replace) {
  const names = () => ({ commonName: ssl.common_name || "", sans: ssl.sans });
  const testid = replace ? "ssl-replace" : "ssl-renew";
  const widget = csrInput({ names, optional: !replace, testid: `${testid}-csr` });
  const refusal = refusalPanel(`${testid}-refusal`);
  return h("details", { class: "ssl-action", "data-testid": testid },
    h("summary", {}, replace ? "Replace (new key; this certificate is revoked as superseded once the new one is issued)"
      : "Renew (the same details, a new term)"),
    form({
      testid: `${testid}-form`,
      submitLabel: replace ? "Replace certificate" : "Renew certificate",
      extra: [widget.el],
      onSubmit: async () => {
        refusal.clear();
        const csr = await widget.csr();
        let created;
        try {
          created = await submitIssuance(`/api/v1/ssl/${ssl.ssl_id}/${replace ? "replace" : "renew"}`,
                                         csr ? { csr } : {});
        } catch (error) {
          throw refusal.take(error);       // the findings and the link to the failed request, under the form
        }
        widget.forget();
        navigate(`/ssl/${created.id}`);
      },
    }), refusal.el);
}

// ---- the certificate decoded -----------------------------------------------------------------------------
function keyWords(key) {
  if (!key) return "";
  if (key.type === "EC") return `ECDSA, curve ${key.curve} (${key.size} bits)`;
  if (key.size) return `${key.type} ${key.size} bits`;
  return key.type;
}

function names(list) {
  if (!list || !list.length) return "(none)";
  return h("ul", { class: "ssl-names" }, list.map((n) => h("li", {}, `${n.type.toUpperCase()}: ${n.value}`)));
}

function fingerprint(hex, testid) {
  return h("code", { class: "ssl-fingerprint", "data-testid": testid }, colonHex(hex));
}

function certificateSection(c, ssl) {
  return h("section", { class: "card", "data-testid": "ssl-certificate" }, h("h2", {}, "Certificate"),
    definitionList([
      ["Subject", h("code", { "data-testid": "ssl-subject" }, c.subject || "(empty)")],
      ["Subject alternative names", names(c.subject_alternative_names)],
      ["Valid from", fmtDate(c.not_before)],
      ["Valid until", h("span", { "data-testid": "ssl-not-after" }, fmtDate(c.not_after))],
      ["Serial", h("code", { "data-testid": "ssl-serial" }, colonHex(c.serial.length % 2 ? `0${c.serial}` : c.serial))],
      ["Key", h("span", { "data-testid": "ssl-key" }, keyWords(c.public_key))],
      ["Signature algorithm", c.signature_algorithm],
      ["Key usage", c.key_usage ? c.key_usage.map(statusWords).join(", ") : "(none)"],
      ["Extended key usage", c.extended_key_usage ? c.extended_key_usage.map(statusWords).join(", ") : "(none)"],
      ["Basic constraints", c.basic_constraints
        ? `CA: ${c.basic_constraints.ca ? "yes" : "no"}${c.basic_constraints.path_length !== null ? `, path length ${c.basic_constraints.path_length}` : ""}`
        : "(none)"],
      ["Authority information access", c.authority_information_access.length
        ? h("ul", { class: "ssl-names" }, c.authority_information_access.map((a) => h("li", {},
          `${a.method === "ocsp" ? "OCSP" : a.method === "ca_issuers" ? "CA issuers" : a.method}: ${a.location}`)))
        : "(none)"],
      ["CRL distribution points", c.crl_distribution_points.length
        ? h("ul", { class: "ssl-names" }, c.crl_distribution_points.map((u) => h("li", {}, u))) : "(none)"],
      ["Subject key identifier", c.subject_key_identifier ? h("code", {}, colonHex(c.subject_key_identifier)) : "(none)"],
      ["Authority key identifier", c.authority_key_identifier ? h("code", {}, colonHex(c.authority_key_identifier)) : "(none)"],
      ["Certificate policies", c.certificate_policies.length ? c.certificate_policies.join(", ") : null],
      ["SHA-256 fingerprint", fingerprint(c.sha256_fingerprint, "ssl-sha256")],
      ["SHA-1 fingerprint", fingerprint(c.sha1_fingerprint, "ssl-sha1")],
      ["Issuer", h("code", {}, c.issuer)],
      ["Extensions", h("ul", { class: "ssl-names" }, c.extensions.map((e) => h("li", {},
        `${e.name} (${e.oid})${e.critical ? " — critical" : ""}`)))],
    ]),
    h("details", {}, h("summary", {}, "PEM"), h("pre", { class: "mono ssl-pem" }, c.pem)),
    ssl.status === "expired" ? notice("This certificate has expired.", "warning") : null);
}

function chainList(chain) {
  if (!chain.length) return h("p", { class: "muted" }, "No CA certificates were recorded with it.");
  return h("ol", { class: "ssl-chain", "data-testid": "ssl-chain" }, chain.map((c, i) => h("li", {},
    h("p", {}, h("strong", {}, i === 0 ? "Issuing CA" : c.self_signed ? "Root CA" : "Intermediate CA"), ": ",
      h("code", {}, c.subject)),
    definitionList([
      ["Issued by", h("code", {}, c.issuer)],
      ["Valid", `${fmtDate(c.not_before)} – ${fmtDate(c.not_after)}`],
      ["Key", keyWords(c.public_key)],
      ["Serial", h("code", {}, colonHex(c.serial.length % 2 ? `0${c.serial}` : c.serial))],
      ["SHA-256 fingerprint", fingerprint(c.sha256_fingerprint)],
    ]))));
}

// ---- history -------------------------------------------------------------------------------------------------
function timeline(history) {
  if (!history) return notice("The history could not be read.", "error");
  if (!history.items.length) return h("p", { class: "muted" }, "Nothing recorded yet.");
  return h("ol", { class: "ssl-timeline", "data-testid": "ssl-history" }, history.items.map((entry) => {
    const by = entry.by || {};
    const who = by.username || (by.actor === "system:auto-renew" ? "automatic renewal"
      : by.actor === "collection-link" ? "the collection link" : by.actor ? "an administrator" : "the system");
    const extra = [];
    const d = entry.details || {};
    if (d.serial) extra.push(`serial ${d.serial}`);
    if (d.not_after) extra.push(`valid until ${fmtDate(d.not_after)}`);
    if (d.format) extra.push(`format ${d.format}`);
    return h("li", { "data-testid": "ssl-history-entry" },
      h("p", { class: "ssl-timeline-head" }, h("strong", {}, entry.event), " — ", who, " · ",
        h("time", { datetime: entry.at }, fmtDate(entry.at))),
      entry.message ? h("p", { class: "ssl-timeline-message" }, entry.message) : null,
      extra.length ? h("p", { class: "muted" }, extra.join(" · ")) : null,
      d.renewed_by ? h("p", {}, link(`#/ssl/${d.renewed_by}`, "the renewal")) : null,
      d.renewal_of ? h("p", {}, link(`#/ssl/${d.renewal_of}`, "the certificate renewed")) : null);
  }));
}
