// Certplane self-enrollment pages (gateway/api_public_forms.py): one module for the three pages, chosen by the URL.
//
//   /forms/invitations/<token>        an invitation mail's link: the key (server-made with a password, or made here),
//                                     then the status and the download (PKCS#12, or the certificate PEM)
//   /forms/<type>?account=<id>        an enrollment account's form (ssl | client | device | cscert)
//   /forms/device/<uri_extension>     a device enrollment endpoint's form
//
// Only /forms/api/... is called. Keys made here (csr.js, WebCrypto) never leave the page: the CSR is sent, the key
// is offered as a file. No inline script or style, no innerHTML of anything sent by the server or typed.

import { generateCsr, downloadText } from "../js/csr.js";

const main = document.getElementById("main");
const TYPE_NAMES = { ssl: "SSL/TLS server", client: "client (S/MIME)", device: "device", cscert: "code signing",
                     code_signing: "code signing" };
const FINAL = new Set(["issued", "downloaded", "declined", "failed", "revoked", "expired"]);

// ---- little DOM helpers -----------------------------------------------------------------------------------------

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "testid") el.dataset.testid = value;
    else if (key === "class") el.className = value;
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "text") el.textContent = value;
    else el.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

let fieldCount = 0;
/** A labelled field: the label names the control (getByLabel works). */
function field(label, control, hint) {
  const id = control.id || `f${++fieldCount}`;
  control.id = id;
  return h("div", { class: "field" }, h("label", { for: id }, label), control,
           hint ? h("span", { class: "hint" }, hint) : null);
}

function show(...children) {
  main.replaceChildren(...children);
}

function errorBox(message, testid = "error") {
  return h("div", { class: "error", role: "alert", testid }, message);
}

function option(value, label, selected = false) {
  const el = h("option", { value }, label);
  if (selected) el.selected = true;
  return el;
}

// ---- the API ----------------------------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, error) {
    super((error && error.message) || `HTTP ${status}`);
    this.status = status;
    this.code = error && error.code;
    this.details = (error && error.details) || {};
  }
}

async function call(method, path, body) {
  const options = { method, headers: { Accept: "application/json" }, credentials: "omit", cache: "no-store" };
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch(path, options);
  if (!response.ok) {
    let error = null;
    try { error = (await response.json()).error; } catch { /* not JSON */ }
    throw new ApiError(response.status, error);
  }
  return response;
}

const getJson = async (path) => (await call("GET", path)).json();
const postJson = async (path, body) => (await call("POST", path, body)).json();

/** What a refusal means for the applicant, in words. */
function describe(error) {
  if (!(error instanceof ApiError)) return String(error.message || error);
  if (error.code === "account_locked") {
    const until = error.details.locked_until ? ` until ${new Date(error.details.locked_until).toLocaleString()}` : "";
    return `This form is locked${until}: too many wrong access codes were given. Try again later.`;
  }
  if (error.code === "access_code_wrong") {
    const count = error.details.consecutive_failures;
    const locked = error.details.locked_until
      ? ` This form is now locked until ${new Date(error.details.locked_until).toLocaleString()}.` : "";
    return `The access code is wrong${count ? ` (${count} wrong in a row)` : ""}.${locked}`;
  }
  const fields = Object.entries(error.details || {})
    .filter(([, v]) => Array.isArray(v) && v.every((x) => typeof x === "string"))
    .map(([k, v]) => `${k}: ${v.join(", ")}`);
  return fields.length ? `${error.message} (${fields.join("; ")})` : error.message;
}

function saveBlob(filename, blob) {
  const url = URL.createObjectURL(blob);
  const link = h("a", { href: url, download: filename, hidden: true });
  document.body.append(link);
  try { link.click(); } finally {
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  }
}

function filenameOf(response, fallback) {
  const found = /filename="([^"]+)"/.exec(response.headers.get("Content-Disposition") || "");
  return found ? found[1] : fallback;
}

const wait = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Run `work` with the button disabled; errors go to `errors` (an element kept on the page). */
async function busy(button, errors, work) {
  button.disabled = true;
  errors.replaceChildren();
  try {
    await work();
  } catch (error) {
    errors.replaceChildren(errorBox(describe(error)));
  } finally {
    button.disabled = false;
  }
}

function splitNames(textValue) {
  return textValue.split(/[\s,]+/).map((s) => s.trim()).filter(Boolean);
}

// ---- a CSR: pasted, or made in this browser -------------------------------------------------------------------

/** The CSR part of a form. `methods`: "provided" and/or "browser"; `keyTypes`: offered when made here.
 *  `names()` gives {commonName, sans} for a key made here. Returns {element, csr(): Promise<string>}. */
function csrPart(methods, keyTypes, names, keyFilename) {
  const canPaste = methods.includes("provided");
  const canMake = methods.includes("browser");
  const paste = h("textarea", { testid: "csr", spellcheck: "false",
                                placeholder: "-----BEGIN CERTIFICATE REQUEST-----" });
  const keyType = h("select", { testid: "key-type" },
                    keyTypes.map((k, i) => option(k.id, k.label, i === 0)));
  const how = h("div", { class: "choices", role: "radiogroup" });
  const pasteBox = h("div", {}, field("Certificate signing request (PEM)", paste));
  const makeBox = h("div", {}, field("Key type", keyType,
                                     "The key is made in this browser; you save it as a file. It is never sent."));
  const radios = [];
  const pick = (which) => {
    pasteBox.hidden = which !== "provided";
    makeBox.hidden = which !== "browser";
  };
  for (const [value, label] of [["provided", "I paste a CSR"], ["browser", "Make the key in my browser"]]) {
    if ((value === "provided" && !canPaste) || (value === "browser" && !canMake)) continue;
    const radio = h("input", { type: "radio", name: "csr-method", value, testid: `csr-method-${value}`,
                               onchange: () => pick(value) });
    radios.push(radio);
    how.append(h("label", {}, radio, " ", label));
  }
  if (radios.length) radios[0].checked = true;
  pick(radios.length ? radios[0].value : "provided");
  const element = h("div", {}, h("div", { class: "field" }, h("span", { class: "label" }, "The key"), how),
                    pasteBox, makeBox);
  return {
    element,
    setKeyTypes(list) {
      keyType.replaceChildren(...list.map((k, i) => option(k.id, k.label, i === 0)));
    },
    async csr() {
      const chosen = radios.find((r) => r.checked);
      if (!chosen || chosen.value === "provided") {
        if (!paste.value.trim()) throw new Error("paste the certificate signing request (PEM)");
        return paste.value.trim();
      }
      const made = await generateCsr({ keyType: keyType.value, ...names() });
      downloadText(keyFilename, made.privateKeyPem, "application/x-pem-file");
      element.append(h("div", { class: "notice", testid: "key-saved" },
                       `Your private key was saved as ${keyFilename}. Keep it: it exists nowhere else.`,
                       " ", h("button", { type: "button", class: "secondary", testid: "key-save-again",
                                          onclick: () => downloadText(keyFilename, made.privateKeyPem,
                                                                      "application/x-pem-file") },
                              "Save the key again")));
      return made.csrPem;
    },
  };
}

const BROWSER_KEY_TYPES = [
  { id: "ec-p256", label: "ECDSA P-256 (recommended)" }, { id: "ec-p384", label: "ECDSA P-384" },
  { id: "rsa-2048", label: "RSA 2048-bit" }, { id: "rsa-3072", label: "RSA 3072-bit" },
  { id: "rsa-4096", label: "RSA 4096-bit" },
];

function keyTypesOf(profile) {
  const allowed = new Set((profile && profile.key_types) || BROWSER_KEY_TYPES.map((k) => k.id));
  const offered = BROWSER_KEY_TYPES.filter((k) => allowed.has(k.id));
  return offered.length ? offered : BROWSER_KEY_TYPES;
}

/** Profile and term selects; `onProfile` is told of a change. */
function profileAndTerm(profiles, onProfile) {
  const profile = h("select", { testid: "profile" }, profiles.map((p, i) => option(p.profile_id, p.name, i === 0)));
  const term = h("select", { testid: "term" });
  const fillTerms = () => {
    const chosen = profiles.find((p) => p.profile_id === profile.value) || profiles[0];
    const terms = (chosen && chosen.terms) || [];
    term.replaceChildren(...terms.map((days) => option(String(days), `${days} days`, days === Math.max(...terms))));
    if (onProfile) onProfile(chosen);
  };
  profile.addEventListener("change", fillTerms);
  fillTerms();
  return { profile, term, chosen: () => profiles.find((p) => p.profile_id === profile.value) || profiles[0],
           elements: [field("Certificate profile", profile), field("Term", term)] };
}

function answerBox(answer) {
  return h("div", { class: "done", testid: "form-answer" },
           h("p", {}, "Status: ", h("span", { class: "status", testid: "form-answer-status" }, answer.status)),
           h("p", { testid: "form-answer-message" },
             `${answer.message.charAt(0).toUpperCase()}${answer.message.slice(1)}.`));
}

// ---- /forms/<type>?account=<id> ---------------------------------------------------------------------------------

async function accountForm(formType) {
  const accountId = new URLSearchParams(location.search).get("account") || "";
  const title = `Request a ${TYPE_NAMES[formType]} certificate`;
  if (!/^[0-9a-fA-F-]{36}$/.test(accountId)) {
    show(h("h1", {}, title), errorBox("This form's link is incomplete: it names no enrollment account."));
    return;
  }
  const code = h("input", { type: "password", autocomplete: "off", testid: "access-code", maxlength: "128" });
  const email = h("input", { type: "email", autocomplete: "email", testid: "email", maxlength: "254" });
  const withNames = formType === "client" || formType === "cscert";
  const first = h("input", { type: "text", autocomplete: "given-name", testid: "first-name", maxlength: "64" });
  const last = h("input", { type: "text", autocomplete: "family-name", testid: "last-name", maxlength: "64" });
  const errors = h("div", { testid: "errors" });
  const next = h("button", { type: "submit", testid: "form-continue" }, "Continue");
  const step1 = h("form", { testid: "form-access", novalidate: true },
                  field("Access code", code, "Your administrator gave it to you."),
                  field("Email", email, "Your address; the certificate mail goes there."),
                  withNames ? field("First name", first) : null, withNames ? field("Last name", last) : null,
                  next);
  const step2 = h("div", { testid: "form-details" });
  show(h("h1", {}, title), step1, errors, step2);
  step1.addEventListener("submit", (event) => {
    event.preventDefault();
    busy(next, errors, async () => {
      const offer = await postJson(`/forms/api/accounts/${accountId}/form`,
                                   { access_code: code.value, email: email.value.trim() });
      if (offer.form_account.cert_type !== ({ cscert: "code_signing" }[formType] || formType)) {
        throw new Error("this access code belongs to a form of another certificate type");
      }
      for (const input of [code, email, first, last]) input.readOnly = true;
      next.hidden = true;
      details(offer);
    });
  });

  function details(offer) {
    const account = offer.form_account;
    const profiles = offer.profiles;
    const keyTypes = keyTypesOf(profiles[0]);
    let csr = null;
    const choice = profileAndTerm(profiles, (p) => { if (csr) csr.setKeyTypes(keyTypesOf(p)); });
    const parts = [h("h2", {}, account.name), ...choice.elements];
    const cn = h("input", { type: "text", testid: "common-name", maxlength: "300" });
    const sans = h("textarea", { testid: "sans", class: "short", spellcheck: "false" });
    let withCsr = formType === "ssl" || formType === "device";
    const names = () => ({ commonName: cn.value.trim() || undefined, sans: splitNames(sans.value) });
    if (formType === "ssl" || formType === "device") {
      parts.push(field("Common name", cn, formType === "ssl" ? "A DNS name; one of the names below." :
                                         "A DNS name, or the device's name."),
                 field("Subject alternative names", sans, "DNS names or IP addresses, one per line."));
      csr = csrPart(account.csr_generation, keyTypes, names, `${formType}-key.pem`);
      parts.push(csr.element);
    } else if (formType === "cscert") {
      const how = h("div", { class: "choices" });
      const mail = h("input", { type: "radio", name: "cs-how", value: "invitation", testid: "cs-invitation",
                                checked: true });
      const paste = h("input", { type: "radio", name: "cs-how", value: "csr", testid: "cs-csr" });
      how.append(h("label", {}, mail, " Mail me a link: I make the key there (in the browser or on my token)"),
                 h("label", {}, paste, " I have a CSR (RSA 3072+ or ECDSA P-256/P-384)"));
      csr = csrPart(["provided"], keyTypes, names, "code-signing-key.pem");
      csr.element.hidden = true;
      const pick = () => { withCsr = paste.checked; csr.element.hidden = !paste.checked; };
      mail.addEventListener("change", pick);
      paste.addEventListener("change", pick);
      parts.push(h("div", { class: "field" }, h("span", { class: "label" }, "How"), how), csr.element);
    } else {
      parts.push(h("p", { class: "notice" }, "We send you a mail with a link: there you make your key (or let us make "
                                             + "it) and download your certificate."));
    }
    const send = h("button", { type: "button", testid: "form-submit" },
                   withNames ? "Send" : "Request certificate");
    const sendErrors = h("div", { testid: "submit-errors" });
    parts.push(send, sendErrors);
    step2.replaceChildren(...parts);
    send.addEventListener("click", () => busy(send, sendErrors, async () => {
      const body = { form_account_id: accountId, access_code: code.value, email: email.value.trim(),
                     profile_id: choice.profile.value, term_days: Number(choice.term.value) };
      if (withNames) Object.assign(body, { first_name: first.value.trim(), last_name: last.value.trim() });
      if (formType === "ssl" || formType === "device") {
        Object.assign(body, { common_name: cn.value.trim() || null, sans: splitNames(sans.value) });
      }
      if (withCsr) body.csr = await csr.csr();
      const answer = await postJson(`/forms/api/${formType}/requests`, body);
      send.hidden = true;
      step2.append(answerBox(answer));
    }));
  }
}

// ---- /forms/device/<uri_extension> ------------------------------------------------------------------------------

async function deviceEndpointForm(uriExtension) {
  let endpoint;
  try {
    endpoint = await getJson(`/forms/api/device/${encodeURIComponent(uriExtension)}`);
  } catch (error) {
    show(h("h1", {}, "Request a device certificate"), errorBox(error.status === 404
      ? "There is no device enrollment form at this address." : describe(error)));
    return;
  }
  const email = h("input", { type: "email", autocomplete: "email", testid: "email", maxlength: "254" });
  const cn = h("input", { type: "text", testid: "common-name", maxlength: "300" });
  const sans = h("textarea", { testid: "sans", spellcheck: "false" });
  let csr = null;
  const choice = profileAndTerm(endpoint.profiles, (p) => { if (csr) csr.setKeyTypes(keyTypesOf(p)); });
  const names = () => ({ commonName: cn.value.trim() || undefined, sans: splitNames(sans.value) });
  csr = csrPart(["provided", "browser"], keyTypesOf(endpoint.profiles[0]), names, "device-key.pem");
  const send = h("button", { type: "button", testid: "form-submit" }, "Request certificate");
  const errors = h("div", { testid: "submit-errors" });
  const body = h("div", { testid: "endpoint-form" },
                 endpoint.help_text ? h("p", { class: "help", testid: "help-text" }, endpoint.help_text) : null,
                 endpoint.help_link_text
                   ? h("p", { class: "hint", testid: "help-link" }, endpoint.help_link_text) : null,
                 field("Email", email, "The mail with the certificate's download link goes there."),
                 ...choice.elements, field("Common name", cn, "A DNS name, or the device's name."),
                 field("Subject alternative names", sans, "DNS names or IP addresses, one per line."),
                 csr.element, send, errors);
  show(h("h1", {}, endpoint.name), body);
  send.addEventListener("click", () => busy(send, errors, async () => {
    const answer = await postJson(`/forms/api/device/${encodeURIComponent(uriExtension)}/requests`, {
      email: email.value.trim(), profile_id: choice.profile.value, term_days: Number(choice.term.value),
      common_name: cn.value.trim() || null, sans: splitNames(sans.value), csr: await csr.csr() });
    send.hidden = true;
    body.append(answerBox(answer));
  }));
}

// ---- /forms/invitations/<token> ---------------------------------------------------------------------------------

async function invitationPage(token) {
  const base = `/forms/api/invitations/${encodeURIComponent(token)}`;
  let invitation;
  try {
    invitation = await getJson(base);
  } catch (error) {
    show(h("h1", {}, "Your certificate"), errorBox(error.status === 404
      ? "This invitation link is not valid (or no longer)." : describe(error)));
    return;
  }
  const cert = invitation.certificate;
  const typeName = TYPE_NAMES[cert.cert_type] || cert.cert_type;
  const status = h("span", { class: "status", testid: "invitation-status" }, cert.status);
  const facts = h("dl", { class: "facts" },
                  h("dt", {}, "Certificate"), h("dd", {}, `${typeName} — ${invitation.profile_name}`),
                  h("dt", {}, "For"), h("dd", {}, [cert.name, cert.email].filter(Boolean).join(", ")),
                  h("dt", {}, "Term"), h("dd", {}, `${cert.term_days} days`),
                  h("dt", {}, "Status"), h("dd", {}, status));
  const work = h("div", { testid: "invitation-work" });
  const errors = h("div", { testid: "errors" });
  show(h("h1", {}, `Your ${typeName} certificate`), facts, work, errors);
  const state = { password: null, keyPem: null };

  if (invitation.open) answerForm();
  else if (cert.status === "invited") work.replaceChildren(errorBox("This invitation has expired; ask for a new one."));
  else follow(cert);

  function answerForm() {
    const isClient = cert.cert_type === "client";
    const methods = invitation.key_generation;            // client: browser, server; code signing: browser, provided
    const how = h("div", { class: "choices", role: "radiogroup" });
    const radios = {};
    const labels = { server: "Let the server make my key (you download it as a PKCS#12 file with a password)",
                     browser: "Make the key in my browser (you save the key as a file)",
                     provided: "I paste a CSR (a key on my token or made elsewhere)" };
    for (const method of methods) {
      radios[method] = h("input", { type: "radio", name: "key-method", value: method, testid: `key-method-${method}`,
                                    onchange: pick });
      how.append(h("label", {}, radios[method], " ", labels[method] || method));
    }
    radios[methods[0]].checked = true;
    const password = h("input", { type: "password", autocomplete: "new-password", testid: "password",
                                  maxlength: "128" });
    const confirm = h("input", { type: "password", autocomplete: "new-password", testid: "password-confirm",
                                 maxlength: "128" });
    const serverBox = h("div", {}, field("Password", password, invitation.allow_empty_password
      ? "It protects the PKCS#12 file; it may be empty." : "It protects the PKCS#12 file: at least 8 characters."),
                        field("Confirm the password", confirm));
    const keyTypes = isClient ? [{ id: "ec-p256", label: "ECDSA P-256" }]
      : [{ id: "rsa-3072", label: "RSA 3072-bit" }, { id: "ec-p256", label: "ECDSA P-256" }];
    const keyType = h("select", { testid: "key-type" }, keyTypes.map((k, i) => option(k.id, k.label, i === 0)));
    const browserBox = h("div", {}, field("Key type", keyType, "Made here with WebCrypto; it is never sent."));
    const paste = h("textarea", { testid: "csr", spellcheck: "false" });
    const pasteBox = h("div", {}, field("Certificate signing request (PEM)", paste));
    function pick() {
      const chosen = Object.values(radios).find((r) => r.checked).value;
      serverBox.hidden = chosen !== "server";
      browserBox.hidden = chosen !== "browser";
      pasteBox.hidden = chosen !== "provided";
    }
    pick();
    const send = h("button", { type: "button", testid: "invitation-submit" }, "Request the certificate");
    work.replaceChildren(h("div", { class: "field" }, h("span", { class: "label" }, "Your key"), how),
                         serverBox, browserBox, pasteBox, send);
    send.addEventListener("click", () => busy(send, errors, async () => {
      const chosen = Object.values(radios).find((r) => r.checked).value;
      let body;
      if (chosen === "server") {
        if (password.value !== confirm.value) throw new Error("the two passwords differ");
        if (!password.value && !invitation.allow_empty_password) throw new Error("choose a password");
        body = { password: password.value };
        state.password = password.value;
      } else if (chosen === "browser") {
        const made = await generateCsr({ keyType: keyType.value, commonName: cert.email || cert.name || "key" });
        state.keyPem = made.privateKeyPem;
        body = { csr: made.csrPem };
      } else {
        if (!paste.value.trim()) throw new Error("paste the certificate signing request (PEM)");
        body = { csr: paste.value.trim() };
      }
      const answered = await postJson(base, body);
      follow(answered);
    }));
  }

  async function follow(current) {
    work.replaceChildren();
    if (state.keyPem) {
      work.append(h("div", { class: "notice", testid: "key-kept" },
                    "Your key was made in this browser. Save it now: it exists nowhere else. ",
                    h("button", { type: "button", class: "secondary", testid: "key-save",
                                  onclick: () => downloadText("private-key.pem", state.keyPem,
                                                              "application/x-pem-file") }, "Save my key")));
    }
    const progress = h("p", { testid: "invitation-progress" });
    work.append(progress);
    let found = current;
    for (let tries = 0; !FINAL.has(found.status) && tries < 150; tries++) {
      status.textContent = found.status;
      progress.textContent = found.status === "requested"
        ? "Your request waits for an administrator's approval. This page shows when it is issued."
        : "The certificate is being issued…";
      await wait(2000);
      try { found = (await getJson(base)).certificate; } catch { /* keep trying */ }
    }
    status.textContent = found.status;
    if (found.status === "issued" || found.status === "downloaded") {
      progress.textContent = "Your certificate is issued.";
      progress.className = "done";
      offerDownload(found);
    } else {
      progress.textContent = found.status === "declined"
        ? `The request was declined${found.declined_reason ? `: ${found.declined_reason}` : ""}.`
        : `The certificate is ${found.status}.`;
    }
  }

  function offerDownload(found) {
    if (found.key_origin === "server") {
      const password = h("input", { type: "password", autocomplete: "current-password", testid: "download-password",
                                    maxlength: "128" });
      if (state.password !== null) password.value = state.password;
      const get = h("button", { type: "button", testid: "download-p12" }, "Download key and certificate (PKCS#12)");
      work.append(field("The password you chose", password), get);
      get.addEventListener("click", () => busy(get, errors, async () => {
        const response = await call("POST", `${base}/download`, { password: password.value });
        saveBlob(filenameOf(response, "certificate.p12"), await response.blob());
        work.append(h("p", { class: "done", testid: "downloaded" }, "Downloaded."));
      }));
    } else {
      const get = h("button", { type: "button", testid: "download-pem" }, "Download the certificate (PEM)");
      work.append(get);
      get.addEventListener("click", () => busy(get, errors, async () => {
        const pem = await getJson(`${base}/certificate`);
        downloadText("certificate.pem", [pem.certificate_pem, ...(pem.chain_pem || [])].join(""),
                     "application/x-pem-file");
        work.append(h("p", { class: "done", testid: "downloaded" }, "Downloaded."));
      }));
    }
  }
}

// ---- which page -------------------------------------------------------------------------------------------------

function start() {
  const path = location.pathname;
  let found;
  if ((found = /^\/forms\/invitations\/([^/]+)$/.exec(path))) return invitationPage(decodeURIComponent(found[1]));
  if ((found = /^\/forms\/device\/([^/]+)$/.exec(path))) return deviceEndpointForm(decodeURIComponent(found[1]));
  if ((found = /^\/forms\/(ssl|client|device|cscert)$/.exec(path))) return accountForm(found[1]);
  show(errorBox("There is no form at this address."));
  return null;
}

start();
