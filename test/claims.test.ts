/**
 * Claim requirements as py-oidc-auth reads them (README "Guards"): every
 * listed value, any-of only when asked for, Keycloak's role paths matching
 * flattened broker and peer tokens, a guard's claims replacing the default
 * ones, and malformed constraints refused.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  type ClaimConstraints,
  checkClaimConstraints,
  compileRequirement,
  type Requirement,
  unmetRequirement,
} from "../src/core/claims.ts";

const keycloakToken = {
  sub: "s",
  realm_access: { roles: ["hpcuser", "user"] },
  resource_access: { "demo-app": { roles: ["editor"] }, account: { roles: ["view-profile"] } },
  groups: ["/staff"],
  tenant: { id: "t1", tags: ["a", "b"] },
};

/** What our broker and py-oidc-auth peers mint: the roles flattened, no Keycloak claims. */
const brokerToken = {
  sub: "alice",
  preferred_username: "alice",
  roles: ["hpcuser", "admins", "editor", "/staff"],
};

function meets(token: object, requirement: Requirement, defaults: ClaimConstraints = {}) {
  const compiled = compileRequirement(requirement, defaults);
  return unmetRequirement(token as Record<string, unknown>, compiled) === undefined;
}

describe("claim requirements: every listed value (py-oidc-auth's reading)", () => {
  it("needs every value of a list, not one of them", () => {
    const both = { claims: { "realm_access.roles": ["hpcuser", "user"] } };
    assert.ok(meets(keycloakToken, both));
    const oneMissing = { claims: { "realm_access.roles": ["hpcuser", "admins"] } };
    assert.ok(
      !meets(keycloakToken, oneMissing),
      "hpcuser alone does not satisfy hpcuser AND admins",
    );
    assert.ok(meets(keycloakToken, { claims: { "tenant.tags": ["b", "a"] } }));
    assert.ok(!meets(keycloakToken, { claims: { "tenant.tags": ["a", "c"] } }));
  });

  it("reads a single string as a list of one, against a string or an array claim", () => {
    assert.ok(meets(keycloakToken, { claims: { "tenant.id": "t1" } }));
    assert.ok(!meets(keycloakToken, { claims: { "tenant.id": "t2" } }));
    assert.ok(meets(keycloakToken, { claims: { "realm_access.roles": "user" } }));
  });

  it("offers any-of explicitly", () => {
    const anyOf = { claims: { "realm_access.roles": { anyOf: ["admins", "hpcuser"] } } };
    assert.ok(meets(keycloakToken, anyOf));
    assert.ok(
      !meets(keycloakToken, { claims: { "realm_access.roles": { anyOf: ["admins", "root"] } } }),
    );
  });

  it("needs every path to match", () => {
    assert.ok(
      !meets(keycloakToken, { claims: { "tenant.id": "t1", "realm_access.roles": "root" } }),
    );
    assert.ok(meets(keycloakToken, { claims: { "tenant.id": "t1", groups: "/staff" } }));
  });

  it("fans * out over every client, all values across them", () => {
    const across = { claims: { "resource_access.*.roles": ["editor", "view-profile"] } };
    assert.ok(meets(keycloakToken, across));
    assert.ok(!meets(keycloakToken, { claims: { "resource_access.*.roles": ["editor", "root"] } }));
  });
});

describe("claim requirements: Keycloak's role paths and flattened tokens", () => {
  it("matches Keycloak-style requirements against a broker's or peer's flat roles", () => {
    for (const claims of <ClaimConstraints[]>[
      { "realm_access.roles": ["hpcuser", "admins"] },
      { "resource_access.demo-app.roles": "editor" },
      { "resource_access.*.roles": "editor" },
      { groups: "/staff" },
      { roles: ["hpcuser", "admins"] },
    ]) {
      assert.ok(meets(brokerToken, { claims }), JSON.stringify(claims));
    }
    assert.ok(!meets(brokerToken, { claims: { "realm_access.roles": ["hpcuser", "root"] } }));
  });

  it("reads a Keycloak-shaped token precisely: a realm role is no client role", () => {
    assert.ok(!meets(keycloakToken, { claims: { "resource_access.demo-app.roles": "hpcuser" } }));
    assert.ok(!meets(keycloakToken, { claims: { "realm_access.roles": "editor" } }));
    assert.ok(!meets(keycloakToken, { claims: { groups: "hpcuser" } }));
    assert.ok(meets(keycloakToken, { claims: { "resource_access.demo-app.roles": "editor" } }));
    // A client the user has no roles at, or no client roles at all: still no stand-in.
    assert.ok(!meets(keycloakToken, { claims: { "resource_access.other-app.roles": "hpcuser" } }));
    const realmOnly = { sub: "s", realm_access: { roles: ["hpcuser"] } };
    assert.ok(!meets(realmOnly, { claims: { "resource_access.demo-app.roles": "hpcuser" } }));
    assert.ok(!meets(realmOnly, { claims: { groups: "hpcuser" } }));
  });

  it("reads roles as every role the token carries, Keycloak-shaped or not", () => {
    assert.ok(meets(keycloakToken, { claims: { roles: ["hpcuser", "editor", "/staff"] } }));
    assert.ok(!meets(keycloakToken, { claims: { roles: ["hpcuser", "root"] } }));
  });

  it("does not read other paths flattened", () => {
    assert.ok(!meets(brokerToken, { claims: { "tenant.roles": "hpcuser" } }));
    assert.ok(!meets(brokerToken, { claims: { "realm_access.other": "hpcuser" } }));
  });
});

describe("claim requirements: a guard's claims replace the defaults", () => {
  const defaults = { "realm_access.roles": "root" };

  it("applies the defaults to a guard without claims", () => {
    assert.ok(!meets(keycloakToken, {}, defaults));
    assert.ok(!meets(keycloakToken, { scopes: [] }, defaults));
  });

  it("replaces the defaults with the guard's own claims", () => {
    assert.ok(meets(keycloakToken, { claims: { "tenant.id": "t1" } }, defaults));
  });

  it("switches them off with claims: {}", () => {
    assert.ok(meets(keycloakToken, { claims: {} }, defaults));
  });
});

describe("claim constraints: shapes", () => {
  it("accepts strings, lists of strings and { anyOf }", () => {
    checkClaimConstraints({}, "claims");
    checkClaimConstraints({ a: "x", "b.c": ["x", "y"], "d.*.e": { anyOf: ["x"] } }, "claims");
  });

  it("refuses malformed constraints with a message naming the option and path", () => {
    const malformed: Array<[unknown, RegExp]> = [
      [{ roles: 1 }, /claims: "roles" must be a string, a list of strings or \{ anyOf/],
      [{ roles: true }, /"roles" must be/],
      [{ roles: null }, /"roles" must be/],
      [{ roles: [] }, /"roles" is an empty list/],
      [{ roles: ["a", 2] }, /"roles" must list non-empty strings only/],
      [{ roles: "" }, /"roles" is an empty string/],
      [{ roles: { anyOf: [] } }, /"roles" is an empty list/],
      [{ roles: { anyOf: "a" } }, /"roles" needs anyOf to be a list/],
      [{ roles: { anyof: ["a"] } }, /"roles" must be a string, a list of strings or \{ anyOf/],
      [{ roles: { anyOf: ["a"], allOf: ["b"] } }, /"roles" must be/],
      [{ "a..b": "x" }, /claim path "a\.\.b" has an empty segment/],
      [{ "": "x" }, /empty segment/],
      [["roles"], /claims: expected an object/],
      ["roles", /claims: expected an object/],
      [null, /claims: expected an object/],
    ];
    for (const [value, message] of malformed) {
      assert.throws(() => checkClaimConstraints(value, "claims"), message, JSON.stringify(value));
    }
  });

  it("refuses a malformed constraint when a guard is compiled, naming whose it is", () => {
    const bad = { roles: 1 } as unknown as ClaimConstraints;
    assert.throws(() => compileRequirement({ claims: bad }, {}), /the guard's claims: "roles"/);
    assert.throws(() => compileRequirement({}, bad), /^Error: claims: "roles"/);
  });
});
