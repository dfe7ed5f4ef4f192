// The console's start: who is logged in, the login and first-login password change, the layout (header,
// navigation by what this admin may do, the screen), logout and the idle timeout's message.
import { api, setCsrfToken } from "./api.js";
import { clear, errorBox, field, form, h, notice } from "./ui.js";
import { leave, match, navItems, onLeave, parseHash, poll } from "./router.js";
import { isMrao, roleSummary } from "./session.js";
// every screen registers itself (router.screen) when imported
import "./screens/dashboard.js";
import "./screens/organizations.js";
import "./screens/admins.js";
import "./screens/persons.js";
import "./screens/domains.js";
import "./screens/profiles.js";
import "./screens/cas.js";
import "./screens/ssl.js";
import "./screens/acme-accounts.js";
import "./screens/certificates.js";
import "./screens/enrollment-accounts.js";
import "./screens/key-escrow.js";
import "./screens/outbox.js";

const root = document.getElementById("app");
let me = null;
let ended = null;        // why the last session ended (shown on the login page)

async function boot() {
  try {
    me = await api("GET", "/api/v1/auth/me");
  } catch (error) {
    if (error.status === 401) return showLogin();
    return clear(root, h("main", { class: "login" }, errorBox(error)));
  }
  setCsrfToken(me.csrf_token);
  if (me.must_change_password) return showPasswordChange(true);
  showConsole();
}

// ---- logging in ----------------------------------------------------------------------------------------------
function showLogin() {
  leave();
  clearTimeout(waitingTimer);
  me = null;
  setCsrfToken(null);
  document.title = "Log in — Certplane";
  const login = form({
    testid: "login-form",
    submitLabel: "Log in",
    fields: [field({ name: "username", label: "Username", required: true, autocomplete: "username" }),
             field({ name: "password", label: "Password", type: "password", required: true,
                     autocomplete: "current-password" })],
    onSubmit: async (values) => {
      const answer = await api("POST", "/api/v1/auth/session", { json: values });
      setCsrfToken(answer.csrf_token);
      ended = null;
      await boot();
    },
  });
  clear(root, h("main", { id: "main", class: "login" },
    h("div", { class: "login-card" },
      h("h1", {}, h("img", { src: "/console/img/certplane.svg", alt: "", width: 32, height: 32 }), " Certplane"),
      h("p", { class: "muted" }, "Certificate lifecycle manager"),
      ended ? notice(ended, "warning") : null,
      login)));
  login.querySelector("input").focus();
}

function showPasswordChange(required) {
  leave();
  document.title = "Change your password — Certplane";
  const change = form({
    testid: "password-form",
    submitLabel: "Change password",
    fields: [field({ name: "current_password", label: "Current password", type: "password", required: true,
                     autocomplete: "current-password" }),
             field({ name: "new_password", label: "New password", type: "password", required: true,
                     autocomplete: "new-password", help: "At least 12 characters." }),
             field({ name: "confirm", label: "Confirm new password", type: "password", required: true,
                     autocomplete: "new-password" })],
    onSubmit: async (values) => {
      if (values.new_password !== values.confirm) {
        throw { message: "the new password and its confirmation differ" };
      }
      await api("POST", "/api/v1/auth/password", { json: { current_password: values.current_password,
                                                           new_password: values.new_password } });
      if (!required) window.history.replaceState(null, "", "#/");
      await boot();
    },
    secondary: required ? [h("button", { type: "button", onclick: logout }, "Log out")] : [],
  });
  clear(root, h("main", { id: "main", class: "login" }, h("div", { class: "login-card" },
    h("h1", {}, "Change your password"),
    required ? notice("This is your first login (or your password was reset): choose a new password to go on.",
                      "warning") : null,
    change)));
  change.querySelector("input").focus();
}

async function logout() {
  try {
    await api("POST", "/api/v1/auth/logout");
  } catch (ignored) { /* the session may already be over */ }
  window.location.hash = "#/";
  showLogin();
}

window.addEventListener("certplane:unauthenticated", (event) => {
  if (!me) return;
  const error = event.detail;
  ended = error.code === "session_idle" ? error.message : "Your session has ended; log in again.";
  showLogin();
});

// ---- the console -----------------------------------------------------------------------------------------------
let main = null;
let nav = null;

function showConsole() {
  nav = h("nav", { class: "sidebar", id: "nav", "aria-label": "Main" });
  main = h("main", { id: "main", class: "content", tabindex: "-1" });
  const menu = h("button", { type: "button", class: "menu-toggle", "aria-controls": "nav", "aria-expanded": "false" },
                 "Menu");
  menu.addEventListener("click", () => {
    const open = nav.classList.toggle("open");
    menu.setAttribute("aria-expanded", String(open));
  });
  const header = h("header", { class: "topbar" },
    menu,
    h("a", { href: "#/", class: "brand" }, h("img", { src: "/console/img/certplane.svg", alt: "", width: 24, height: 24 }),
      " Certplane"),
    h("span", { class: "who", "data-testid": "who" }, me.username, h("span", { class: "muted" }, ` (${roleSummary(me)})`)),
    h("a", { href: "#/password", class: "header-link" }, "Password"),
    h("button", { type: "button", class: "header-link", "data-testid": "logout", onclick: logout }, "Log out"));
  clear(root, header, h("div", { class: "layout" }, nav, main));
  renderNav();
  render();
  watchWaiting();
}

// The live count of what waits for me, on the Dashboard's navigation item (a background poll).
let waitingTimer = null;
let waitingCount = null;

function watchWaiting() {
  clearTimeout(waitingTimer);
  const round = async () => {
    if (!me) return;
    try {
      const data = await api("GET", "/api/v1/dashboard", { background: true });
      const waiting = data.waiting_for_me;
      waitingCount = waiting.ssl_requests.count + waiting.domain_delegations.count +
        waiting.network_delegations.count + waiting.admins.count;
      showWaiting();
    } catch (ignored) { /* shown on the next round */ }
    if (me) waitingTimer = setTimeout(round, 15_000);
  };
  waitingTimer = setTimeout(round, 2_000);      // after the first screen has what it needs
}

function showWaiting() {
  const badge = nav && nav.querySelector('[data-badge="/"]');
  if (!badge) return;
  badge.textContent = waitingCount ? String(waitingCount) : "";
  badge.setAttribute("aria-label", waitingCount ? `${waitingCount} waiting for you` : "");
}

// The navigation is built once per set of items and then only marked: a render (a screen's refresh, a poll) must
// not replace the link a keyboard user has focused, or their next Enter goes nowhere.
let navBuiltFor = "";

function renderNav() {
  const current = parseHash().path;
  const items = navItems(me);
  const key = items.map((item) => item.path).join(" ");
  if (key !== navBuiltFor || !nav.querySelector("ul")) {
    navBuiltFor = key;
    clear(nav, h("ul", {}, items.map((item) => h("li", {}, h("a", { href: `#${item.path}`, "data-nav": item.path },
      item.nav.label, item.nav.badge ? h("span", { class: "nav-badge", "data-badge": item.path }) : null)))));
  }
  for (const link of nav.querySelectorAll("a[data-nav]")) {
    const path = link.getAttribute("data-nav");
    const active = current === path || (path !== "/" && current.startsWith(`${path}/`));
    if (active) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  showWaiting();
}

// Each render draws into a view of its own: a screen still loading when the address changes finishes into a
// view no longer on the page, and registers no poll (its generation is over).
let generation = 0;

async function render() {
  if (!me || !main) return;
  leave();
  generation += 1;
  const mine = generation;
  const current = () => mine === generation;
  nav.classList.remove("open");
  const { path, query } = parseHash();
  if (path === "/password") return showPasswordChange(false);
  renderNav();
  const view = h("div", { class: "view" });
  clear(main, view);
  const found = match(path);
  if (!found || (found.screen.nav && found.screen.nav.visible && !found.screen.nav.visible(me) && !found.screen.open)) {
    clear(view, h("h1", {}, "Not found"), notice("There is no such screen, or it is not for your role."));
    return;
  }
  const { screen, params } = found;
  const title = typeof screen.title === "function" ? screen.title(params) : screen.title;
  document.title = `${title} — Certplane`;
  const ctx = { me, params, query, main: view, refresh: () => (current() ? render() : undefined),
                isMrao: isMrao(me), current,
                onLeave: (callback) => (current() ? onLeave(callback) : callback()),
                poll: (task, ms) => (current() ? poll(task, ms) : undefined) };
  clear(view, h("p", { class: "loading" }, "Loading…"));
  try {
    await screen.render(ctx);
  } catch (error) {
    if (current()) clear(view, h("h1", {}, title), errorBox(error));
  }
  if (!current()) return;
  const heading = view.querySelector("h1");
  if (heading) {
    heading.setAttribute("tabindex", "-1");
    if (document.activeElement === document.body || !main.contains(document.activeElement)) heading.focus({ preventScroll: true });
  }
}

window.addEventListener("hashchange", () => {
  if (me && !me.must_change_password) render();
});

boot();
export { me };
