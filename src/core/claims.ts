/**
 * The validated token's claims, and the scope and claim constraints that
 * guards enforce (README "Guards").
 */

/** The claims of a validated access token: the standard ones and Keycloak's. */
export interface IDToken {
  iss: string;
  sub: string;
  aud: string | string[];
  exp: number;
  iat?: number;
  nbf?: number;
  jti?: string;
  azp?: string;
  client_id?: string;
  sid?: string;
  scope?: string;
  name?: string;
  preferred_username?: string;
  given_name?: string;
  family_name?: string;
  email?: string;
  email_verified?: boolean;
  realm_access?: { roles?: string[] };
  resource_access?: Record<string, { roles?: string[] }>;
  groups?: string[];
  roles?: string[];
  [claim: string]: unknown;
}

/**
 * Claim path (dot notation; `*` matches every key of an object) to the
 * values accepted there. A path matches when the claim, a string or an array,
 * holds one of the values; all paths must match. The path `roles` also sees
 * the flattened Keycloak roles (see `flattenRoles`).
 */
export type ClaimConstraints = Record<string, string | readonly string[]>;

/** What a guard demands beyond a valid token. */
export interface Requirement {
  /** Scopes that must all be granted (the `scope` claim, or `scp`). */
  scopes?: string | readonly string[];
  claims?: ClaimConstraints;
}

/**
 * Every role the token carries, as one list: `roles`,
 * `realm_access.roles`, `resource_access.*.roles` and `groups` — the claims
 * py-oidc-auth also reads as roles.
 */
export function flattenRoles(token: Record<string, unknown>): string[] {
  const roles = new Set<string>();
  for (const path of ["roles", "realm_access.roles", "resource_access.*.roles", "groups"]) {
    for (const value of claimValues(token, path.split("."))) roles.add(value);
  }
  return [...roles];
}

/** A requirement compiled once, so that checking it allocates nothing new. */
export interface CompiledRequirement {
  scopes: string[];
  claims: Array<{ path: string; segments: string[]; accepted: Set<string> }>;
}

export function compileRequirement(
  requirement: Requirement,
  defaults: ClaimConstraints,
): CompiledRequirement {
  const scopes =
    typeof requirement.scopes === "string"
      ? requirement.scopes.split(/\s+/).filter(Boolean)
      : [...(requirement.scopes ?? [])];
  const merged = { ...defaults, ...requirement.claims };
  const claims = Object.entries(merged).map(([path, accepted]) => ({
    path,
    segments: path.split("."),
    accepted: new Set(typeof accepted === "string" ? [accepted] : accepted),
  }));
  return { scopes, claims };
}

/** The first unmet part of the requirement, or undefined when all is met. */
export function unmetRequirement(
  token: Record<string, unknown>,
  requirement: CompiledRequirement,
): string | undefined {
  if (requirement.scopes.length > 0) {
    const granted = grantedScopes(token);
    const missing = requirement.scopes.filter((scope) => !granted.has(scope));
    if (missing.length > 0) return `The token lacks the scope(s): ${missing.join(" ")}.`;
  }
  for (const { path, segments, accepted } of requirement.claims) {
    const values = path === "roles" ? flattenRoles(token) : claimValues(token, segments);
    if (!values.some((value) => accepted.has(value))) {
      return `The token's "${path}" claim does not hold an accepted value.`;
    }
  }
  return undefined;
}

function grantedScopes(token: Record<string, unknown>): Set<string> {
  const { scope, scp } = token;
  if (typeof scope === "string") return new Set(scope.split(" "));
  if (Array.isArray(scp)) return new Set(scp.filter((s): s is string => typeof s === "string"));
  if (typeof scp === "string") return new Set(scp.split(" "));
  return new Set();
}

/** The string values at a claim path, with `*` fanning out over object keys. */
export function claimValues(value: unknown, segments: readonly string[], from = 0): string[] {
  if (from === segments.length) {
    if (typeof value === "string") return [value];
    if (Array.isArray(value)) return value.filter((v): v is string => typeof v === "string");
    if (typeof value === "number" || typeof value === "boolean") return [String(value)];
    return [];
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return [];
  const segment = segments[from] as string;
  const record = value as Record<string, unknown>;
  // Own keys only: a path such as "constructor" must not reach the prototype.
  const children =
    segment === "*"
      ? Object.values(record)
      : Object.hasOwn(record, segment)
        ? [record[segment]]
        : [];
  return children.flatMap((child) => claimValues(child, segments, from + 1));
}
