// Roles per namespace pattern. A pattern is an exact namespace, a prefix
// ending in "*" ("team-*"), or "*" for every namespace. Roles are ordered:
// read < write < admin, and a role includes the ones below it.

export const ROLE_NAMES = ["read", "write", "admin"] as const;
export type RoleName = (typeof ROLE_NAMES)[number];

export interface Grant {
  namespacePattern: string;
  role: RoleName;
}

/** Every namespace: what the admin RPCs (and RPCs missing from the access table) need a role on. */
export const ALL_NAMESPACES = "*";

export function roleRank(role: RoleName): number {
  return ROLE_NAMES.indexOf(role);
}

/** Whether `pattern` matches `namespace` (ALL_NAMESPACES as a namespace is matched by "*" only). */
export function patternMatches(pattern: string, namespace: string): boolean {
  if (pattern === ALL_NAMESPACES) return true;
  if (namespace === ALL_NAMESPACES) return false;
  if (pattern.endsWith("*")) return namespace.startsWith(pattern.slice(0, -1));
  return pattern === namespace;
}

/** Whether the grants give at least `role` on `namespace`. */
export function grantsAllow(grants: readonly Grant[], namespace: string, role: RoleName): boolean {
  const needed = roleRank(role);
  return grants.some((g) => roleRank(g.role) >= needed && patternMatches(g.namespacePattern, namespace));
}

/** Whether the grants give at least `role` on some namespace (BeginTransaction, Health: no namespace yet). */
export function grantsAllowSome(grants: readonly Grant[], role: RoleName): boolean {
  const needed = roleRank(role);
  return grants.some((g) => roleRank(g.role) >= needed);
}

/** Why a pattern is invalid, or null. */
export function patternProblem(pattern: string, maxBytes: number): string | null {
  if (pattern === "") return "must not be empty (use \"*\" for every namespace)";
  if (Buffer.byteLength(pattern, "utf8") > maxBytes) return `is longer than ${maxBytes} bytes`;
  const star = pattern.indexOf("*");
  if (star !== -1 && star !== pattern.length - 1) return 'may hold "*" only as its last character';
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(pattern)) return "must not hold control characters";
  return null;
}
