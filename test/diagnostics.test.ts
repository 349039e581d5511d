/**
 * Errors that name the fix (docs/troubleshooting.md "Troubleshooting"): each failure a user
 * meets while setting up logs its cause and what to check, never a secret.
 * Against real failures: a closed port, a 404, a host that does not
 * resolve, a wrong client secret at the dev IdP, a missing store driver and
 * a mistyped store scheme.
 */
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { type DevIdp, startDevIdp } from "../dev-idp/index.ts";
import { AuthError } from "../src/core/errors.ts";
import { IdentityProvider } from "../src/core/idp.ts";
import { describeError, errorCode, fieldsFirst, loggableUrl } from "../src/core/log.ts";
import { resolveOptions } from "../src/core/options.ts";
import { importPeer } from "../src/core/peer.ts";
import { OIDCAuth, type OIDCAuthOptions } from "../src/index.ts";
import { MemoryBrokerStore } from "../src/stores/index.ts";
import { capturingLogger } from "./helpers/http.ts";

const request = {
  method: "GET",
  query: new URLSearchParams(),
  authorization: undefined,
  contentType: undefined,
  body: () => "",
};

/** A port on which nothing listens: bound once, then closed. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Discovery with a capturing logger: the 503 and the one line it logged. */
async function discover(discoveryUrl: string, options: { timeoutMs?: number } = {}) {
  const lines: string[] = [];
  const auth = new IdentityProvider(
    resolveOptions({ clientId: "c", discoveryUrl, logger: capturingLogger(lines), ...options }),
  );
  await assert.rejects(
    auth.issuer(),
    (error: unknown) => error instanceof AuthError && error.status === 503,
  );
  assert.equal(lines.length, 1, lines.join("\n"));
  return lines[0] ?? "";
}

describe("discovery failures name the URL and the cause", () => {
  let idp: DevIdp;
  let odd: Server;
  let oddBase = "";

  before(async () => {
    idp = await startDevIdp();
    odd = createServer((req, res) => {
      if (req.url?.startsWith("/html")) {
        res.writeHead(200, { "content-type": "text/html" }).end("<html>login</html>");
      } else {
        res.writeHead(200, { "content-type": "application/json" }).end('{"issuer":"x"}');
      }
    });
    await new Promise<void>((resolve) => odd.listen(0, "127.0.0.1", resolve));
    oddBase = `http://127.0.0.1:${(odd.address() as AddressInfo).port}`;
  });
  after(async () => {
    odd.close();
    await idp.stop();
  });

  it("a closed port: the URL, ECONNREFUSED, and what to check", async () => {
    const url = `http://127.0.0.1:${await closedPort()}/.well-known/openid-configuration`;
    const line = await discover(url);
    assert.ok(line.includes(url), line);
    assert.match(line, /ECONNREFUSED/);
    assert.match(line, /check the host and port and that the IdP is running/);
    assert.doesNotMatch(line, /OIDC discovery failed: (Error|TypeError)$/);
  });

  it("a 404: the URL, the status, and where discovery documents usually are", async () => {
    const url = `${idp.issuer}/realms/nope/.well-known/openid-configuration`;
    const line = await discover(url);
    assert.ok(line.includes(url), line);
    assert.match(line, /HTTP 404/);
    assert.match(line, /\/\.well-known\/openid-configuration/);
    assert.match(line, /"status":404/);
  });

  it("a host that does not resolve: the DNS error code", async () => {
    const url = "http://idp.ts-oidc-auth.invalid/.well-known/openid-configuration";
    const line = await discover(url);
    assert.ok(line.includes(url), line);
    assert.match(line, /ENOTFOUND|EAI_AGAIN/);
    assert.match(line, /host name/);
  });

  it("a document without issuer or token_endpoint: what is missing", async () => {
    const line = await discover(`${oddBase}/.well-known/openid-configuration`);
    assert.match(line, /has no token_endpoint/);
    assert.match(line, /"missing":\["token_endpoint"\]/);
    const html = await discover(`${oddBase}/html`);
    assert.match(html, /not JSON \(content-type text\/html\)/);
  });

  it("a timeout: the configured timeoutMs", async () => {
    const silent = createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const port = (silent.address() as AddressInfo).port;
    try {
      const line = await discover(`http://127.0.0.1:${port}/x`, { timeoutMs: 200 });
      assert.match(line, /no answer within 200 ms \(timeoutMs\)/);
    } finally {
      silent.closeAllConnections();
      silent.close();
    }
  });

  it("never logs the userinfo of a URL", async () => {
    const port = await closedPort();
    const line = await discover(`http://admin:hunter2@127.0.0.1:${port}/.well-known/x`);
    assert.doesNotMatch(line, /hunter2|admin/);
    assert.ok(line.includes(`http://127.0.0.1:${port}/.well-known/x`), line);
  });
});

describe("the IdP's refusals name the OAuth error and what to check", () => {
  let idp: DevIdp;
  before(async () => {
    idp = await startDevIdp();
  });
  after(() => idp.stop());

  for (const method of ["client_secret_basic", "client_secret_post"] as const) {
    it(`a wrong client secret (${method}): invalid_client and the credentials to check`, async () => {
      const other = await startDevIdp({ tokenEndpointAuthMethods: [method] });
      try {
        const lines: string[] = [];
        const provider = new IdentityProvider(
          resolveOptions({
            clientId: other.confidentialClient.clientId,
            clientSecret: "not-the-secret",
            discoveryUrl: other.discoveryUrl,
            logger: capturingLogger(lines),
          }),
        );
        await assert.rejects(
          provider.refresh("any-refresh-token"),
          (error: unknown) => error instanceof AuthError && error.status === 502,
        );
        assert.equal(lines.length, 1, lines.join("\n"));
        const line = lines[0] ?? "";
        assert.match(line, /invalid_client/);
        assert.match(line, /check clientId\/clientSecret and the client's authentication method/);
        assert.doesNotMatch(line, /WWWAuthenticateChallengeError|not-the-secret|any-refresh/);
      } finally {
        await other.stop();
      }
    });
  }

  it("an unknown refresh token: invalid_grant, told at info level as the user's problem", async () => {
    const lines: string[] = [];
    const provider = new IdentityProvider(
      resolveOptions({
        ...idp.confidentialClient,
        discoveryUrl: idp.discoveryUrl,
        logger: capturingLogger(lines),
      }),
    );
    await assert.rejects(
      provider.refresh("made-up-refresh-token"),
      (error: unknown) => error instanceof AuthError && error.status === 400,
    );
    assert.equal(lines.length, 1, lines.join("\n"));
    assert.match(lines[0] ?? "", /^info: .*invalid_grant; the code or refresh token is expired/);
    assert.doesNotMatch(lines[0] ?? "", /made-up/);
  });
});

describe("store failures keep the store's own message", () => {
  const base = (lines: string[]): OIDCAuthOptions => ({
    clientId: "c",
    discoveryUrl: "https://idp.example.org/.well-known/openid-configuration",
    brokerMode: true,
    secret: "s".repeat(32),
    proxy: "https://app.example.org",
    logger: capturingLogger(lines),
  });
  /** The JWKS endpoint needs the store (the signing keys live there). */
  const jwksReply = async (options: OIDCAuthOptions) => {
    const route = new OIDCAuth(options).routes().find((r) => r.name === "jwks");
    assert.ok(route);
    return route.handle(request);
  };
  const storeLine = (lines: string[]) => lines.find((line) => /broker store/.test(line)) ?? "";

  it("a mistyped scheme: the scheme and the supported ones, without the password", async () => {
    const lines: string[] = [];
    const reply = await jwksReply({
      ...base(lines),
      brokerStoreUrl: "postgress://app:hunter2@db.example.org/app",
    });
    assert.equal(reply.status, 503);
    const line = storeLine(lines);
    assert.match(line, /Unsupported broker store URL scheme "postgress"/);
    assert.match(line, /postgresql:\/\//);
    assert.doesNotMatch(line, /hunter2/);
  });

  it("a missing driver: the package to install", async () => {
    const lines: string[] = [];
    const store = new MemoryBrokerStore();
    store.init = async () => {
      await importPeer("ts-oidc-auth-no-such-driver", "The Example broker store");
    };
    const reply = await jwksReply({ ...base(lines), brokerStore: store });
    assert.equal(reply.status, 503);
    assert.match(
      storeLine(lines),
      /The Example broker store needs the "ts-oidc-auth-no-such-driver" package: npm install ts-oidc-auth-no-such-driver/,
    );
  });

  it("a host that refuses: the driver's words with the address, without the password", async () => {
    const lines: string[] = [];
    const port = await closedPort();
    const reply = await jwksReply({
      ...base(lines),
      brokerStoreUrl: `postgresql://app:hunter2@127.0.0.1:${port}/app`,
    });
    assert.equal(reply.status, 503);
    const line = storeLine(lines);
    assert.match(line, new RegExp(`ECONNREFUSED 127\\.0\\.0\\.1:${port}`));
    assert.doesNotMatch(line, /hunter2/);
  });
});

describe("logging helpers", () => {
  it("find the system error code below fetch's TypeError", () => {
    const error = new TypeError("fetch failed", {
      cause: Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" }),
    });
    assert.equal(errorCode(error), "ECONNREFUSED");
    assert.equal(describeError(error), "TypeError (ECONNREFUSED)");
    const aggregate = new TypeError("fetch failed", {
      cause: Object.assign(
        new AggregateError([Object.assign(new Error(), { code: "EHOSTUNREACH" })]),
        {},
      ),
    });
    assert.equal(errorCode(aggregate), "EHOSTUNREACH");
  });

  it("strip userinfo from URLs", () => {
    assert.equal(loggableUrl("https://u:p@idp.example.org/x?y=1"), "https://idp.example.org/x?y=1");
  });

  it("call an object-first logger (pino, bunyan) with the fields first", () => {
    const calls: unknown[][] = [];
    const logger = fieldsFirst({ warn: (...args: unknown[]) => calls.push(args) });
    logger.warn("message", { a: 1 });
    logger.debug?.("dropped: the target has no debug");
    assert.deepEqual(calls, [[{ a: 1 }, "message"]]);
  });
});
