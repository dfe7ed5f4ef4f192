// The console's one way to the server: /api/v1, as any client (DESIGN §5). The session is the HttpOnly cookie the
// browser sends by itself; every request that changes something carries the session's CSRF token, which the
// login answer (or GET /api/v1/auth/me after a reload) gave us and which lives only in this page's memory.

let csrfToken = null;

export function setCsrfToken(token) {
  csrfToken = token || null;
}

// An answer other than 2xx: the API's error body ({error: {code, message, details, correlation_id}}).
export class ApiError extends Error {
  constructor(status, body, correlationId) {
    const error = (body && body.error) || {};
    super(error.message || `the server answered ${status}`);
    this.status = status;
    this.code = error.code || `http_${status}`;
    this.details = error.details ?? null;
    this.correlationId = error.correlation_id || correlationId || null;
  }
}

const SAFE = new Set(["GET", "HEAD"]);

// api("GET", "/api/v1/organizations", {query: {q: "acme"}}) -> the JSON answer (null for 204).
// Options: json (a body to send as JSON), form (FormData), query (object; empty values left out),
// background (a poll the user did not ask for: does not keep the session alive), raw (the Response itself).
export async function api(method, path, options = {}) {
  const url = new URL(path, window.location.origin);
  for (const [key, value] of Object.entries(options.query || {})) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(key, value);
  }
  const headers = { Accept: "application/json" };
  if (!SAFE.has(method) && csrfToken) headers["X-CSRF-Token"] = csrfToken;
  if (options.background) headers["X-Certplane-Background"] = "1";
  let body;
  if (options.json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(options.json);
  } else if (options.form) {
    body = options.form;
  }
  let response;
  try {
    response = await fetch(url, { method, headers, body, credentials: "same-origin", cache: "no-store" });
  } catch (failure) {
    throw new ApiError(0, { error: { code: "network_error", message: "the server could not be reached" } }, null);
  }
  const correlationId = response.headers.get("X-Correlation-Id");
  if (!response.ok) {
    let answer = null;
    try {
      answer = await response.json();
    } catch (ignored) {
      answer = null;
    }
    const error = new ApiError(response.status, answer, correlationId);
    if (response.status === 401 && !path.startsWith("/api/v1/auth/session")) {
      window.dispatchEvent(new CustomEvent("certplane:unauthenticated", { detail: error }));
    }
    throw error;
  }
  if (options.raw) return response;
  if (response.status === 204 || method === "HEAD") return null;
  const type = response.headers.get("Content-Type") || "";
  return type.includes("json") ? response.json() : response.text();
}

// The URL of a GET the browser should open or download itself (a file, a CSV export): same origin, cookie sent.
export function urlOf(path, query = {}) {
  const url = new URL(path, window.location.origin);
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(key, value);
  }
  return url.pathname + url.search;
}

// Every page of a list endpoint (for small lists: organizations for a picker, profiles, CAs).
export async function listAll(path, query = {}, limit = 2000) {
  const items = [];
  for (let position = 0; position < limit; position += 200) {
    const page = await api("GET", path, { query: { ...query, position, size: 200 } });
    items.push(...page.items);
    if (items.length >= page.total || page.items.length === 0) break;
  }
  return items;
}
