/** Optional peers: a missing framework or driver names the package to install. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { importPeer } from "../src/core/peer.ts";

describe("importPeer", () => {
  it("names the missing package and the adapter that needs it", async () => {
    await assert.rejects(
      importPeer("ts-oidc-auth-missing-peer", "ts-oidc-auth/example"),
      /ts-oidc-auth\/example needs the "ts-oidc-auth-missing-peer" package: npm install ts-oidc-auth-missing-peer/,
    );
  });

  it("does the same through a literal loader (which bundlers follow)", async () => {
    await assert.rejects(
      importPeer(
        "ts-oidc-auth-missing-peer",
        "ts-oidc-auth/hono",
        () => import("ts-oidc-auth-missing-peer" as string),
      ),
      /npm install ts-oidc-auth-missing-peer/,
    );
  });

  it("returns the module when it is installed", async () => {
    const hono = await importPeer<typeof import("hono")>(
      "hono",
      "ts-oidc-auth/hono",
      () => import("hono"),
    );
    assert.equal(typeof hono.Hono, "function");
  });
});
