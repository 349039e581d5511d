/**
 * POST /auth/v2/revoke: OAuth 2.0 Token Revocation (RFC 7009) for the token
 * mode's tokens, broker mode only. A refresh token ends its session; an
 * access token (unexpired, issued here) ends the session it names. The
 * broker's clients are public (its metadata says
 * `revocation_endpoint_auth_methods_supported: ["none"]`), so no client
 * authentication is asked for: holding the token is the authority to end
 * its session (docs/broker.md "Broker mode").
 */
import { jsonResponse, param, parseForm, requiredParam } from "../http.ts";
import type { SessionLifecycle } from "../token-mode.ts";
import type { Endpoint } from "./context.ts";

export const revocation =
  (lifecycle: SessionLifecycle): Endpoint =>
  async (context, request) => {
    const form = await parseForm(request, context.options.maxBodyBytes);
    // §2.1: `token` is required; a request without it is the one malformed case (§2.2.1 invalid_request).
    const token = requiredParam(form, "token");
    // §2.1: an unknown hint is no error; the server searches every token type anyway.
    await lifecycle.revokeToken(token, param(form, "token_type_hint"));
    // §2.2: 200 whether or not the token was valid, so that its validity does not leak.
    return jsonResponse(200, undefined);
  };
