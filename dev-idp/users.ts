/** Demo accounts of the development IdP and the Keycloak-like claims derived from them. */

export interface DemoUser {
  /** Stable subject identifier (Keycloak uses UUIDs, so do we). */
  readonly sub: string;
  readonly username: string;
  readonly password: string;
  readonly givenName: string;
  readonly familyName: string;
  readonly email: string;
  /** Realm roles, published as `realm_access.roles`. */
  readonly roles: readonly string[];
  /** Group paths, published as `groups`. */
  readonly groups: readonly string[];
  /** Client roles, published as `resource_access.<client>.roles`. */
  readonly clientRoles: Readonly<Record<string, readonly string[]>>;
}

export const DEMO_USERS: readonly DemoUser[] = [
  {
    sub: "5f0c2a56-1f7e-4c1a-9d3b-0a11ce000001",
    username: "alice",
    password: "alice-password",
    givenName: "Alice",
    familyName: "Liddell",
    email: "alice@example.org",
    roles: ["admin", "user"],
    groups: ["/staff"],
    clientRoles: { "demo-app": ["editor"] },
  },
  {
    sub: "5f0c2a56-1f7e-4c1a-9d3b-0b0b00000002",
    username: "bob",
    password: "bob-password",
    givenName: "Bob",
    familyName: "Builder",
    email: "bob@example.org",
    roles: ["user"],
    groups: [],
    clientRoles: {},
  },
];

export function findUserBySub(sub: string): DemoUser | undefined {
  return DEMO_USERS.find((user) => user.sub === sub);
}

export function findUserByCredentials(username: string, password: string): DemoUser | undefined {
  const user = DEMO_USERS.find((candidate) => candidate.username === username);
  return user && user.password === password ? user : undefined;
}

/**
 * Which claims each scope releases in ID tokens and at the userinfo endpoint. `openid` carries
 * the role and group claims because the library's guards read them from every token.
 */
export const SCOPE_CLAIMS: Readonly<Record<string, readonly string[]>> = {
  openid: ["sub", "realm_access", "resource_access", "groups"],
  profile: ["preferred_username", "name", "given_name", "family_name"],
  email: ["email", "email_verified"],
};

/** Every claim the IdP knows about the user, keyed by claim name. */
export function userClaims(user: DemoUser): Record<string, unknown> {
  const resourceAccess = Object.fromEntries(
    Object.entries(user.clientRoles).map(([client, roles]) => [client, { roles: [...roles] }]),
  );
  return {
    sub: user.sub,
    preferred_username: user.username,
    name: `${user.givenName} ${user.familyName}`,
    given_name: user.givenName,
    family_name: user.familyName,
    email: user.email,
    email_verified: true,
    realm_access: { roles: [...user.roles] },
    resource_access: resourceAccess,
    groups: [...user.groups],
  };
}

/** The claims released for the given scopes (used by our own userinfo endpoint). */
export function claimsForScopes(
  user: DemoUser,
  scopes: ReadonlySet<string>,
): Record<string, unknown> {
  const all = userClaims(user);
  const released: Record<string, unknown> = {};
  for (const scope of scopes) {
    for (const claim of SCOPE_CLAIMS[scope] ?? []) {
      released[claim] = all[claim];
    }
  }
  return released;
}
