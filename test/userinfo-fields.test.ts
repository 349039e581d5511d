/**
 * The `/userinfo` fields and the broker's username, read with
 * py-oidc-auth's table of claim names (utils.py `get_userinfo`,
 * `get_username`).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  hasProfile,
  userinfoFields,
  usernameClaim,
  usernameOf,
} from "../src/core/userinfo-fields.ts";

describe("userinfoFields", () => {
  it("reads Keycloak's standard claims", () => {
    assert.deepEqual(
      userinfoFields({
        sub: "f1e2",
        preferred_username: "janedoe",
        given_name: "Jane",
        family_name: "Doe",
        name: "Jane Doe",
        email: "jane@example.org",
      }),
      {
        username: "janedoe",
        first_name: "Jane",
        last_name: "Doe",
        email: "jane@example.org",
        pw_name: "janedoe",
      },
    );
  });

  it("reads the other names of py-oidc-auth's table, hyphenated before underscored", () => {
    assert.deepEqual(
      userinfoFields({
        "preferred-username": "hyphen",
        preferred_username: "underscore",
        "first-name": "Ada",
        "last-name": "Lovelace",
        mail: "ada@example.org",
        email: "other@example.org",
      }),
      {
        username: "hyphen",
        first_name: "Ada",
        last_name: "Lovelace",
        email: "ada@example.org",
        pw_name: "hyphen",
      },
    );
    const order: Array<[Record<string, unknown>, string]> = [
      [{ "user-name": "a", user_name: "b", uid: "c", username: "d" }, "a"],
      [{ user_name: "b", uid: "c", username: "d" }, "b"],
      [{ uid: "c", username: "d" }, "c"],
      [{ username: "d" }, "d"],
      [{ uid: 1042 }, "1042"],
      [{ preferred_username: "", uid: "c" }, "c"],
      [{ sub: "f1e2" }, ""],
    ];
    for (const [claims, username] of order) {
      assert.equal(userinfoFields(claims).username, username, JSON.stringify(claims));
    }
    assert.equal(userinfoFields({ "given-name": "G", "family-name": "F" }).first_name, "G");
    assert.equal(userinfoFields({ "given-name": "G", "family-name": "F" }).last_name, "F");
    assert.equal(userinfoFields({ surname: "S" }).last_name, "S");
  });

  it("reads claim names regardless of case, the exact case first", () => {
    assert.equal(userinfoFields({ Preferred_Username: "jd" }).username, "jd");
    assert.equal(userinfoFields({ EMAIL: "x@y", email: "a@b" }).email, "a@b");
  });

  it("splits a full name where given or family name is missing, and keeps names whole", () => {
    const nameOnly = userinfoFields({ name: "Jean Luc Picard" });
    assert.equal(nameOnly.first_name, "Jean Luc");
    assert.equal(nameOnly.last_name, "Picard");
    assert.equal(userinfoFields({ name: "Cher" }).last_name, "Cher");
    assert.equal(userinfoFields({ name: "Cher" }).first_name, "");
    const whole = userinfoFields({ given_name: "Mary Ann", family_name: "van Dyke", name: "x y" });
    assert.equal(whole.first_name, "Mary Ann");
    assert.equal(whole.last_name, "van Dyke");
  });

  it("answers empty strings, never other types, for what is missing or not text", () => {
    assert.deepEqual(userinfoFields({ email: ["a@b"], preferred_username: { x: 1 }, uid: true }), {
      username: "",
      first_name: "",
      last_name: "",
      email: "",
      pw_name: "",
    });
  });
});

describe("hasProfile", () => {
  it("is true only when the claims answer every field", () => {
    const full = { preferred_username: "jd", given_name: "J", family_name: "D", email: "j@d" };
    assert.ok(hasProfile(full));
    assert.ok(hasProfile({ uid: "jd", name: "J D", mail: "j@d" }));
    assert.ok(!hasProfile({ ...full, email: undefined }));
    assert.ok(!hasProfile({ given_name: "J", family_name: "D", email: "j@d" }));
    assert.ok(!hasProfile({ sub: "s" }));
  });
});

describe("usernameOf (the broker's user name)", () => {
  it("takes the IdP userinfo answer first, then the token, then sub", () => {
    assert.equal(usernameOf({ sub: "s", preferred_username: "tok" }, { uid: "ui" }), "ui");
    assert.equal(usernameOf({ sub: "s", preferred_username: "tok" }, { email: "x@y" }), "tok");
    assert.equal(usernameOf({ sub: "s", user_name: "tok" }), "tok");
    assert.equal(usernameOf({ sub: "s" }, {}), "s");
    assert.equal(usernameOf({ sub: "" }), undefined);
    assert.equal(usernameOf({}), undefined);
  });

  it("names the token's own username claim, if any, for deciding whether to ask the IdP", () => {
    assert.equal(usernameClaim({ sub: "s", username: "u" }), "u");
    assert.equal(usernameClaim({ sub: "s" }), undefined);
  });
});
