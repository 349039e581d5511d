/** GET /auth/v2/.well-known/jwks.json: the token mode's public keys (RFC 7517 §5), broker mode only. */
import type { JSONWebKeySet } from "jose";
import { jsonResponse } from "../http.ts";
import type { Publication } from "../token-mode.ts";
import type { Endpoint } from "./context.ts";

export const jwks =
  (publication: Publication): Endpoint =>
  async () => {
    const keys: JSONWebKeySet = await publication.jwks();
    // Public keys may be cached a little; peers refetch on an unknown kid anyway.
    return jsonResponse(200, keys, { "cache-control": "public, max-age=300" });
  };
