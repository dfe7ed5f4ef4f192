// Screens by URL fragment: #/ssl?status=issued&q=shop. A screen module calls screen({...}) once; the router
// renders the one whose pattern matches, gives it the parameters and the query, and tells it when it is left
// (ctx.onLeave), so its polls stop. Filters live in the query, so every view can be linked to and reloaded.

const screens = [];
let leaving = [];

// screen({path: "/organizations/:id", title, nav: {label, order, visible(me)}, render(ctx)})
export function screen(definition) {
  const names = [];
  const pattern = new RegExp("^" + definition.path.replace(/:([a-z_]+)/g, (_m, name) => {
    names.push(name);
    return "([^/]+)";
  }) + "$");
  screens.push({ ...definition, pattern, names });
}

export function navItems(me) {
  return screens.filter((s) => s.nav && (!s.nav.visible || s.nav.visible(me)))
    .sort((a, b) => (a.nav.order ?? 100) - (b.nav.order ?? 100));
}

export function parseHash(hash = window.location.hash) {
  const text = hash.replace(/^#/, "") || "/";
  const [path, search = ""] = text.split("?");
  return { path: path || "/", query: Object.fromEntries(new URLSearchParams(search)) };
}

export function hrefOf(path, query = {}) {
  const search = new URLSearchParams(Object.entries(query).filter(([, v]) => v !== undefined && v !== null && v !== ""))
    .toString();
  return `#${path}${search ? `?${search}` : ""}`;
}

export function navigate(path, query = {}, { replace = false } = {}) {
  const target = hrefOf(path, query);
  if (replace) {
    window.history.replaceState(null, "", target);
    window.dispatchEvent(new HashChangeEvent("hashchange"));
  } else {
    window.location.hash = target;
  }
}

export function match(path) {
  for (const candidate of screens) {
    const found = candidate.pattern.exec(path);
    if (found) {
      const params = Object.fromEntries(candidate.names.map((name, i) => [name, decodeURIComponent(found[i + 1])]));
      return { screen: candidate, params };
    }
  }
  return null;
}

// Leave the current screen: run what it registered with ctx.onLeave.
export function leave() {
  for (const callback of leaving) {
    try { callback(); } catch (ignored) { /* a screen's cleanup must not stop the next one */ }
  }
  leaving = [];
}

export function onLeave(callback) {
  leaving.push(callback);
}

// Run `task` now and every `ms` while the screen is shown (a background request: not user activity).
export function poll(task, ms) {
  let stopped = false;
  let timer = null;
  const run = async () => {
    if (stopped) return;
    try { await task(); } catch (ignored) { /* the next round tries again; the screen shows its own errors */ }
    if (!stopped) timer = setTimeout(run, ms);
  };
  timer = setTimeout(run, ms);
  onLeave(() => { stopped = true; clearTimeout(timer); });
}
