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
 * Claim path (dot notation; `*` matches every key of an object) to what it
 * must hold. A string or a list demands every listed value (as py-oidc-auth
 * does); `{ anyOf }` demands at least one of them. All paths must match.
 *
 * Keycloak's role paths have a flattened reading (see README "Guards"):
 * - `roles` always means every role the token carries (`flattenRoles`);
 * - `realm_access.roles`, `resource_access.<client>.roles`,
 *   `resource_access.*.roles` and `groups` are read where they are, unless
 *   the token carries none of Keycloak's role claims (`realm_access`,
 *   `resource_access`, `groups`): such a token, a broker's or a
 *   py-oidc-auth peer's, holds its roles flattened in `roles`, so those are
 *   read instead. A Keycloak-shaped token is never read flattened, so a realm
 *   role cannot stand in for a client role there.
 */
export type ClaimConstraints = Record<string, ClaimConstraint>;

/** Every one of the values (a single string is a list of one), or any of them. */
export type ClaimConstraint = string | readonly string[] | { anyOf: readonly string[] };

/** What a guard demands beyond a valid token. */
export interface Requirement {
  /** Scopes that must all be granted (the `scope` claim, or `scp`). */
  scopes?: string | readonly string[];
  /** Replaces the configured default claims; `{}` switches them off for this guard. */
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

/**
 * Throws a plain Error naming `option` unless `value` is a valid
 * `ClaimConstraints`: an object of non-empty dot paths to a non-empty
 * string, a non-empty list of them, or `{ anyOf: <such a list> }`.
 */
export function checkClaimConstraints(
  value: unknown,
  option: string,
): asserts value is ClaimConstraints {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new Error(
      `${option}: expected an object of claim paths to values, e.g. { "realm_access.roles": ["admin"] }`,
    );
  }
  for (const [path, constraint] of Object.entries(value)) {
    if (path.split(".").some((segment) => segment === "")) {
      throw new Error(`${option}: the claim path "${path}" has an empty segment`);
    }
    const problem = constraintProblem(constraint);
    if (problem !== undefined) throw new Error(`${option}: "${path}" ${problem}`);
  }
}

function constraintProblem(constraint: unknown): string | undefined {
  if (typeof constraint === "string") return constraint === "" ? "is an empty string" : undefined;
  if (Array.isArray(constraint)) return listProblem(constraint);
  if (typeof constraint === "object" && constraint !== null) {
    const keys = Object.keys(constraint);
    if (keys.length !== 1 || keys[0] !== "anyOf") {
      return "must be a string, a list of strings or { anyOf: [...] }";
    }
    const anyOf: unknown = (constraint as { anyOf: unknown }).anyOf;
    return Array.isArray(anyOf) ? listProblem(anyOf) : "needs anyOf to be a list of strings";
  }
  return `must be a string, a list of strings or { anyOf: [...] }, not ${typeof constraint}`;
}

function listProblem(list: readonly unknown[]): string | undefined {
  // An empty list would demand nothing, which is never what was meant.
  if (list.length === 0) return "is an empty list";
  if (list.some((entry) => typeof entry !== "string" || entry === "")) {
    return "must list non-empty strings only";
  }
  return undefined;
}

/** One claim constraint, compiled. */
interface CompiledClaim {
  path: string;
  segments: string[];
  values: string[];
  /** All of `values` (py-oidc-auth's reading), or any of them. */
  mode: "all" | "any";
  /** How the token is read at this path (see `ClaimConstraints`). */
  reading: "flattened" | "keycloak" | "precise";
}

/** A requirement compiled once, when the guard is made, not on every request. */
export interface CompiledRequirement {
  scopes: string[];
  claims: CompiledClaim[];
}

/**
 * Compiles a guard's requirement. Its `claims`, when given, replace
 * `defaults` (the option `claims`) rather than add to them, as in
 * py-oidc-auth; without `claims` the guard applies `defaults`. Throws on a
 * malformed constraint.
 */
export function compileRequirement(
  requirement: Requirement,
  defaults: ClaimConstraints,
): CompiledRequirement {
  const scopes =
    typeof requirement.scopes === "string"
      ? requirement.scopes.split(/\s+/).filter(Boolean)
      : [...(requirement.scopes ?? [])];
  const own = requirement.claims !== undefined;
  const constraints = own ? requirement.claims : defaults;
  checkClaimConstraints(constraints, own ? "the guard's claims" : "claims");
  const claims = Object.entries(constraints).map(([path, constraint]) =>
    compileClaim(path, constraint),
  );
  return { scopes, claims };
}

function compileClaim(path: string, constraint: ClaimConstraint): CompiledClaim {
  const segments = path.split(".");
  const any = typeof constraint === "object" && "anyOf" in constraint;
  const values =
    typeof constraint === "string" ? [constraint] : any ? constraint.anyOf : constraint;
  return {
    path,
    segments,
    values: [...values],
    mode: any ? "any" : "all",
    reading: readingOf(segments),
  };
}

function readingOf(segments: readonly string[]): CompiledClaim["reading"] {
  const path = segments.join(".");
  if (path === "roles") return "flattened";
  const isClientRoles =
    segments.length === 3 && segments[0] === "resource_access" && segments[2] === "roles";
  return path === "realm_access.roles" || path === "groups" || isClientRoles
    ? "keycloak"
    : "precise";
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
  for (const claim of requirement.claims) {
    const held = new Set(valuesAt(token, claim));
    if (claim.mode === "all" && !claim.values.every((value) => held.has(value))) {
      return `The token's "${claim.path}" claim does not hold every required value.`;
    }
    if (claim.mode === "any" && !claim.values.some((value) => held.has(value))) {
      return `The token's "${claim.path}" claim holds none of the accepted values.`;
    }
  }
  return undefined;
}

function valuesAt(token: Record<string, unknown>, claim: CompiledClaim): string[] {
  if (claim.reading === "flattened") return flattenRoles(token);
  if (claim.reading === "keycloak" && !carriesKeycloakRoles(token)) return flattenRoles(token);
  return claimValues(token, claim.segments);
}

/** Whether the token has Keycloak's role claims, or only (if anything) a flat `roles`. */
function carriesKeycloakRoles(token: Record<string, unknown>): boolean {
  return ["realm_access", "resource_access", "groups"].some(
    (name) => Object.hasOwn(token, name) && token[name] !== undefined && token[name] !== null,
  );
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
