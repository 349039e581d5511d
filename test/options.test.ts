/**
 * Options validated completely at construction (README "Configuration"):
 * every message names the option and the expected type, an unknown name
 * gets a suggestion, and combinations that cannot mean what they say are
 * refused.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CORE_OPTION_NAMES, closestName, resolveOptions } from "../src/core/options.ts";
import { ConfigurationError, fieldsFirst, OIDCAuth, type OIDCAuthOptions } from "../src/index.ts";
import { capturingLogger } from "./helpers/http.ts";

const quiet = { warn() {}, error() {} };
const base: OIDCAuthOptions = {
  clientId: "c",
  discoveryUrl: "https://idp.example.org/.well-known/openid-configuration",
  logger: quiet,
};

/** The ConfigurationError's message, asserting that it names the option. */
function refusal(options: Record<string, unknown>, option: string): string {
  let message = "";
  assert.throws(
    () => new OIDCAuth({ ...base, ...options } as OIDCAuthOptions),
    (error: unknown) => {
      assert.ok(error instanceof ConfigurationError, String(error));
      message = error.message;
      return message.includes(`"${option}"`);
    },
  );
  return message;
}

describe("scopes", () => {
  it("may be a space-separated string or an array of strings", () => {
    assert.deepEqual(resolveOptions({ ...base, scopes: "profile  email" }).scopes, [
      "profile",
      "email",
    ]);
    assert.deepEqual(resolveOptions({ ...base, scopes: ["profile", "email roles"] }).scopes, [
      "profile",
      "email",
      "roles",
    ]);
    assert.deepEqual(resolveOptions({ ...base, scopes: [] }).scopes, []);
  });

  it("of another type is refused, naming the types expected", () => {
    assert.match(
      refusal({ scopes: 3 }, "scopes"),
      /expected a space-separated string or an array of strings, got a number/,
    );
    assert.match(refusal({ scopes: ["a", 1] }, "scopes"), /an array with a non-string/);
  });
});

describe("logger", () => {
  for (const [value, problem] of [
    ["console", /expected an object with warn\(message\) and error\(message\)/],
    [{}, /expected warn\(message\) to be a function, got none/],
    [{ warn() {}, error: "x" }, /expected error\(message\) to be a function, got string/],
    [
      { warn() {}, error() {}, debug: true },
      /expected debug\(message\) to be a function when present/,
    ],
  ] as const) {
    it(`refuses ${JSON.stringify(value)}, naming the option`, () => {
      assert.match(refusal({ logger: value }, "logger"), problem);
    });
  }

  it("takes console and calls every level as a method, with the fields after the message", () => {
    const calls: unknown[][] = [];
    const consoleLike = {
      prefix: "p",
      warn(this: { prefix: string }, ...args: unknown[]) {
        calls.push([this.prefix, ...args]);
      },
      error() {},
    };
    const { logger } = resolveOptions({ ...base, logger: consoleLike });
    logger.warn("w", { a: 1 });
    logger.warn("plain");
    logger.debug("dropped: no debug method");
    assert.deepEqual(calls, [
      ["p", "w", { a: 1 }],
      ["p", "plain"],
    ]);
    assert.doesNotThrow(() => resolveOptions({ ...base, logger: console }));
  });

  it("calls a pino logger object first, as pino wants", () => {
    const calls: unknown[][] = [];
    const record =
      (level: string) =>
      (...args: unknown[]) =>
        calls.push([level, ...args]);
    // pino's documented surface: levels, bindings(), child(), and a method per level.
    const pinoLike = {
      levels: { values: { info: 30 } },
      bindings: () => ({}),
      child: () => pinoLike,
      info: record("info"),
      warn: record("warn"),
      error: record("error"),
      debug: record("debug"),
    };
    const { logger } = resolveOptions({ ...base, logger: pinoLike });
    logger.info("i", { status: 404 });
    logger.error("e");
    assert.deepEqual(calls, [
      ["info", { status: 404 }, "i"],
      ["error", {}, "e"],
    ]);
    assert.doesNotThrow(() => resolveOptions({ ...base, logger: fieldsFirst(pinoLike) }));
  });
});

describe("claims", () => {
  it('refuses "roles=admin" (a string, not a map), naming the option', () => {
    assert.match(refusal({ claims: "roles=admin" }, "claims"), /claims/);
  });
});

describe("broker options without brokerMode", () => {
  it("are refused when brokerMode is left out, naming them and the fix", () => {
    const message = refusal({ brokerStoreUrl: "memory://" }, "brokerStoreUrl");
    assert.match(message, /"brokerStoreUrl" is a broker mode option, but "brokerMode" is not set/);
    assert.match(message, /add brokerMode: true/);
    assert.match(
      refusal({ brokerAudience: "a", trustedIssuers: [] }, "brokerAudience"),
      /"brokerAudience", "trustedIssuers" are broker mode options/,
    );
  });

  it("are accepted with a warning when brokerMode is false on purpose", () => {
    const lines: string[] = [];
    new OIDCAuth({
      ...base,
      brokerMode: false,
      brokerStoreUrl: "memory://",
      logger: capturingLogger(lines),
    });
    assert.ok(
      lines.some((line) => /"brokerMode" is false, so "brokerStoreUrl" is ignored/.test(line)),
      lines.join("\n"),
    );
  });

  it("undefined values do not count (a configuration read from an unset environment)", () => {
    assert.doesNotThrow(() => new OIDCAuth({ ...base, brokerStoreUrl: undefined }));
  });

  it("brokerMode itself must be a boolean", () => {
    assert.match(
      refusal({ brokerMode: "true" }, "brokerMode"),
      /expected true or false, got a string/,
    );
  });
});

describe("types named in every refusal", () => {
  for (const [option, value, expected] of [
    ["clientId", 42, /expected a non-empty string, got a number/],
    ["offlineAccess", "no", /expected true or false, got a string/],
    ["timeoutMs", "10s", /expected a positive number, got a string/],
    ["allowedRedirectUris", "https://app/cb", /expected an array of strings, got a string/],
    ["algorithms", "RS256", /expected an array of strings, got a string/],
    ["secret", 12345, /expected a string or a Uint8Array/],
    ["tokenCacheSize", 1.5, /expected a whole number of at least 0, got a number/],
  ] as const) {
    it(`${option} = ${JSON.stringify(value)}`, () => {
      assert.match(refusal({ [option]: value }, option), expected);
    });
  }

  it("broker options too, with brokerMode on", () => {
    const broker = { brokerMode: true, secret: "s".repeat(32) };
    assert.match(
      refusal({ ...broker, trustedIssuers: "https://peer" }, "trustedIssuers"),
      /expected an array of issuer URLs or \{ issuer, jwksUri \}, got a string/,
    );
    assert.match(
      refusal({ ...broker, brokerJwksPath: 7 }, "brokerJwksPath"),
      /expected a non-empty string/,
    );
  });

  it("never repeats a value, which may be a secret", () => {
    assert.doesNotMatch(refusal({ clientSecret: 123456789 }, "clientSecret"), /123456789/);
  });
});

describe("unknown option names", () => {
  it("get the nearest known name: a typo, another case, py-oidc-auth's snake_case", () => {
    assert.match(refusal({ clientSecrt: "x" }, "clientSecrt"), /did you mean "clientSecret"\?/);
    assert.match(refusal({ discoveryURL: "x" }, "discoveryURL"), /did you mean "discoveryUrl"\?/);
    assert.match(refusal({ client_id: "x" }, "client_id"), /did you mean "clientId"\?/);
    assert.match(
      refusal({ brokerAudence: "x" }, "brokerAudence"),
      /did you mean "brokerAudience"\?/,
    );
    assert.match(refusal({ scope: "x" }, "scope"), /did you mean "scopes"\?/);
    assert.match(
      refusal({ trustedIssuer: [] }, "trustedIssuer"),
      /did you mean "trustedIssuers"\?/,
    );
  });

  it("get no suggestion when nothing is near", () => {
    const message = refusal({ database: "x" }, "database");
    assert.match(message, /unknown option$/);
    assert.equal(closestName("zzzzzzzz", Object.keys(CORE_OPTION_NAMES)), undefined);
  });
});
