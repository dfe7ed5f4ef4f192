// The console's building blocks: elements made with h() (never innerHTML: every value from the API is text),
// forms that keep what was typed when the server refuses, tables, pagers, copy buttons, confirmations, and the
// error box that shows the API's message and correlation id where the action was taken.

let nextId = 0;

// h("button", {class: "primary", onclick: fn, "data-testid": "x"}, "Save") -> <button>
export function h(tag, attrs = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      element.addEventListener(key.slice(2), value);
    } else if (key === "class") {
      element.className = value;
    } else if (key === "for") {
      element.htmlFor = value;
    } else if (key === "value") {
      element.value = value;
    } else if (key === "checked" || key === "selected" || key === "disabled" || key === "required" ||
               key === "multiple" || key === "readOnly" || key === "hidden") {
      element[key] = Boolean(value);
    } else {
      element.setAttribute(key, value === true ? "" : String(value));
    }
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function uid(prefix = "f") {
  nextId += 1;
  return `${prefix}-${nextId}`;
}

export function clear(element, ...children) {
  element.replaceChildren();
  append(element, children);
  return element;
}

// ---- messages ----------------------------------------------------------------------------------------------
// The API's refusal, where it happened: its message, the code, the details the API gave, the correlation id.
export function errorBox(error) {
  const box = h("div", { class: "alert error", role: "alert", "data-testid": "error" });
  box.append(h("p", { class: "alert-message" }, error.message || String(error)));
  const facts = [];
  if (error.code) facts.push(h("span", {}, "code ", h("code", {}, error.code)));
  if (error.status) facts.push(h("span", {}, `HTTP ${error.status}`));
  if (error.correlationId) {
    facts.push(h("span", {}, "correlation id ", h("code", { "data-testid": "correlation-id" },
                                                  error.correlationId)));
  }
  if (facts.length) box.append(h("p", { class: "alert-facts" }, facts.map((f, i) => [i ? " · " : "", f])));
  const details = describeDetails(error.details);
  if (details.length) box.append(h("ul", { class: "alert-details" }, details.map((d) => h("li", {}, d))));
  return box;
}

// The API's details in words: {field: [messages]} or {missing: "..."} or a list (per-row import errors).
export function describeDetails(details) {
  if (!details || typeof details !== "object") return [];
  if (Array.isArray(details)) {
    return details.map((d) => (typeof d === "object" ? Object.entries(d).map(([k, v]) => `${k}: ${flat(v)}`)
      .join(", ") : String(d)));
  }
  return Object.entries(details).map(([key, value]) => `${key.replaceAll("_", " ")}: ${flat(value)}`);
}

function flat(value) {
  if (Array.isArray(value)) return value.map(flat).join("; ");
  if (value && typeof value === "object") return Object.entries(value).map(([k, v]) => `${k}: ${flat(v)}`).join(", ");
  return String(value);
}

export function notice(text, kind = "info") {
  return h("div", { class: `alert ${kind}`, role: kind === "error" ? "alert" : "status" }, text);
}

// A place for the outcome of an action: show(error) / ok(text) / clear().
export function outcome() {
  const el = h("div", { class: "outcome", "aria-live": "polite" });
  return {
    el,
    show(error) { clear(el, errorBox(error)); el.scrollIntoView({ block: "nearest" }); },
    ok(text) { clear(el, notice(text, "success")); },
    clear() { clear(el); },
  };
}

// ---- forms -------------------------------------------------------------------------------------------------
// field({name, label, type, value, required, options: [[value, text]], help, placeholder, rows})
export function field(spec) {
  const id = uid(spec.name || "f");
  let input;
  const common = { id, name: spec.name, required: spec.required, "aria-describedby": spec.help ? `${id}-help` : null,
                   "data-testid": spec.testid || null, autocomplete: spec.autocomplete || null };
  if (spec.type === "select") {
    input = h("select", common,
      (spec.options || []).map(([value, text]) => h("option", { value, selected: String(spec.value ?? "") === String(value) }, text)));
  } else if (spec.type === "textarea") {
    input = h("textarea", { ...common, rows: spec.rows || 6, placeholder: spec.placeholder, class: spec.mono ? "mono" : null });
    input.value = spec.value ?? "";
  } else if (spec.type === "checkbox") {
    input = h("input", { ...common, type: "checkbox", checked: Boolean(spec.value) });
    return h("div", { class: "field checkbox" }, input, h("label", { for: id }, spec.label),
             spec.help ? h("p", { class: "help", id: `${id}-help` }, spec.help) : null);
  } else {
    input = h("input", { ...common, type: spec.type || "text", value: spec.value ?? "", placeholder: spec.placeholder,
                         min: spec.min, max: spec.max, maxlength: spec.maxlength, readOnly: spec.readOnly });
  }
  return h("div", { class: "field" },
    h("div", { class: "label-row" }, h("label", { for: id }, spec.label),
      spec.required ? h("span", { class: "required", "aria-hidden": "true" }, "*") : null),
    input, spec.help ? h("p", { class: "help", id: `${id}-help` }, spec.help) : null);
}

// The values of a form's named controls: checkboxes as booleans, empty strings left out unless keepEmpty.
export function valuesOf(formElement, { keepEmpty = false } = {}) {
  const values = {};
  for (const control of formElement.elements) {
    if (!control.name || control.disabled) continue;
    if (control.type === "radio") {
      if (control.checked) values[control.name] = control.value;
    } else if (control.type === "checkbox") {
      if (control.dataset.group) {
        values[control.name] = values[control.name] || [];
        if (control.checked) values[control.name].push(control.value);
      } else {
        values[control.name] = control.checked;
      }
    } else if (control.type === "file") {
      values[control.name] = control.files[0] || null;
    } else if (control.multiple) {
      values[control.name] = [...control.selectedOptions].map((o) => o.value);
    } else if (control.value !== "" || keepEmpty) {
      values[control.name] = control.value;
    }
  }
  return values;
}

// A form whose submit runs `onSubmit(values, form)`; while it runs the button is disabled; a refusal is shown
// under the form and the typed values stay. `testid` names the form for tests.
export function form({ fields = [], submitLabel = "Save", onSubmit, testid, extra = [], secondary = [] }) {
  const result = outcome();
  const button = h("button", { type: "submit", class: "primary" }, submitLabel);
  const element = h("form", { class: "form", "data-testid": testid || null, novalidate: true }, fields, extra,
                    h("div", { class: "actions" }, button, secondary), result.el);
  element.addEventListener("submit", async (event) => {
    event.preventDefault();
    const invalid = [...element.elements].find((c) => c.willValidate && !c.checkValidity());
    if (invalid) {
      result.show({ message: `${labelOf(invalid)}: ${invalid.validationMessage}` });
      invalid.focus();
      return;
    }
    button.disabled = true;
    result.clear();
    try {
      const message = await onSubmit(valuesOf(element), element);
      if (typeof message === "string") result.ok(message);
    } catch (error) {
      result.show(error);
    } finally {
      button.disabled = false;
    }
  });
  return element;
}

function labelOf(control) {
  const label = control.id ? document.querySelector(`label[for="${control.id}"]`) : null;
  return label ? label.textContent : control.name;
}

// A button whose click runs `run()`; its refusal is shown next to it.
export function actionButton(label, run, { kind = "", testid, confirm: question } = {}) {
  const result = outcome();
  const button = h("button", { type: "button", class: kind || null, "data-testid": testid || null }, label);
  button.addEventListener("click", async () => {
    if (question && !(await confirmDialog(question))) return;
    button.disabled = true;
    result.clear();
    try {
      const message = await run();
      if (typeof message === "string") result.ok(message);
    } catch (error) {
      result.show(error);
    } finally {
      button.disabled = false;
    }
  });
  return h("span", { class: "action" }, button, result.el);
}

// A modal question; resolves true when confirmed. Keyboard: focus moves in, Escape cancels.
export function confirmDialog(question, { confirmLabel = "Confirm", body = null } = {}) {
  return new Promise((resolve) => {
    const ok = h("button", { type: "button", class: "primary", "data-testid": "confirm" }, confirmLabel);
    const cancel = h("button", { type: "button" }, "Cancel");
    const dialog = h("dialog", { class: "dialog", "aria-label": question }, h("p", {}, question), body,
                     h("div", { class: "actions" }, ok, cancel));
    const done = (answer) => { dialog.close(); dialog.remove(); resolve(answer); };
    ok.addEventListener("click", () => done(true));
    cancel.addEventListener("click", () => done(false));
    dialog.addEventListener("cancel", (event) => { event.preventDefault(); done(false); });
    document.body.append(dialog);
    dialog.showModal();
    ok.focus();
  });
}

// A value shown once (an API key, EAB credentials) with a copy button.
export function secretOnce(label, value) {
  return h("div", { class: "secret-once", role: "status" },
    h("p", {}, h("strong", {}, label), " — shown this once; store it now."),
    h("div", { class: "copy-row" }, h("code", { class: "mono", "data-testid": "secret" }, value), copyButton(value)));
}

export function copyButton(text, label = "Copy") {
  const button = h("button", { type: "button", class: "small", "aria-label": `${label} to clipboard` }, label);
  button.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(text);
      button.textContent = "Copied";
    } catch (ignored) {
      const range = document.createRange();
      range.selectNodeContents(button.previousElementSibling || button);
      window.getSelection().removeAllRanges();
      window.getSelection().addRange(range);
      button.textContent = "Selected: press Ctrl+C";
    }
    setTimeout(() => { button.textContent = label; }, 2000);
  });
  return button;
}

// ---- tables ------------------------------------------------------------------------------------------------
// table({columns: [{label, value: row => node|text, key}], rows, testid, empty, sort, onSort})
export function table({ columns, rows, testid, empty = "Nothing here yet.", caption, sort, onSort }) {
  const head = h("tr", {}, columns.map((column) => {
    if (!column.sort || !onSort) return h("th", { scope: "col" }, column.label);
    const active = sort === column.sort || sort === `-${column.sort}`;
    const descending = sort === `-${column.sort}`;
    const next = active && !descending ? `-${column.sort}` : column.sort;
    return h("th", { scope: "col", "aria-sort": active ? (descending ? "descending" : "ascending") : "none" },
      h("button", { type: "button", class: "sort", onclick: () => onSort(next) }, column.label,
        active ? (descending ? " ▼" : " ▲") : ""));
  }));
  const body = h("tbody", { "data-testid": testid || null },
    rows.length ? rows.map((row) => h("tr", {}, columns.map((column) => h("td", { "data-label": column.label },
      column.value(row) ?? "")))) : h("tr", { class: "empty" }, h("td", { colspan: columns.length }, empty)));
  return h("div", { class: "table-wrap" }, h("table", {}, caption ? h("caption", {}, caption) : null,
                                            h("thead", {}, head), body));
}

export function pager({ total, position, size, onChange }) {
  const last = Math.max(0, Math.ceil(total / size) - 1);
  const current = Math.floor(position / size);
  return h("nav", { class: "pager", "aria-label": "pages" },
    h("button", { type: "button", disabled: current === 0, onclick: () => onChange(Math.max(0, position - size)) },
      "Previous"),
    h("span", { "data-testid": "pager-status" },
      total === 0 ? "0 items" : `${position + 1}–${Math.min(total, position + size)} of ${total}`),
    h("button", { type: "button", disabled: current >= last, onclick: () => onChange(position + size) }, "Next"));
}

// ---- small things ------------------------------------------------------------------------------------------
export function badge(status) {
  const text = String(status ?? "").replaceAll("_", " ");
  return h("span", { class: `badge status-${status}` }, text);
}

export function fmtDate(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return String(iso);
  return date.toISOString().replace("T", " ").slice(0, 16) + " UTC";
}

export function daysUntil(iso) {
  if (!iso) return null;
  return Math.floor((new Date(iso).getTime() - Date.now()) / 86400000);
}

export function section(title, ...children) {
  return h("section", { class: "card" }, title ? h("h2", {}, title) : null, children);
}

export function definitionList(pairs) {
  return h("dl", { class: "facts" }, pairs.filter(([, v]) => v !== undefined && v !== null && v !== "")
    .map(([term, value]) => [h("dt", {}, term), h("dd", {}, value)]));
}

export function link(href, text, attrs = {}) {
  return h("a", { href, ...attrs }, text);
}
