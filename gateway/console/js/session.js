// Who is logged in (GET /api/v1/auth/me) and what the console offers them. The server decides every request;
// these only keep the console from offering what would be refused (DESIGN §6, issue 12 "scope-aware").

export const CERT_TYPES = [["ssl", "SSL"], ["client", "Client"], ["code_signing", "Code signing"], ["device", "Device"]];

export function isMrao(me) {
  return Boolean(me && me.roles.some((r) => r.role === "MRAO"));
}

export function hasPrivilege(me, name) {
  return isMrao(me) || Boolean(me && me.privileges.includes(name));
}

// The certificate types this admin holds a role for (all of them for an MRAO).
export function certTypes(me) {
  if (isMrao(me)) return CERT_TYPES.map(([t]) => t);
  return [...new Set(me.roles.map((r) => r.cert_type).filter(Boolean))];
}

export function hasType(me, certType) {
  return certTypes(me).includes(certType);
}

// Organizations the admin holds an RAO role over (of a type, or any).
export function organizationIds(me, certType = null) {
  return [...new Set(me.roles.filter((r) => r.role === "RAO" && (!certType || r.cert_type === certType))
    .flatMap((r) => r.organization_ids))];
}

export function departmentIds(me, certType = null) {
  return [...new Set(me.roles.filter((r) => r.role === "DRAO" && (!certType || r.cert_type === certType))
    .flatMap((r) => r.department_ids))];
}

export function roleSummary(me) {
  return me.roles.map((r) => (r.role === "MRAO" ? "MRAO" : `${r.role} ${r.cert_type ?? ""}`.trim())).join(", ");
}
