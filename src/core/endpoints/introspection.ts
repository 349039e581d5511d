/**
 * POST /auth/v2/introspect: OAuth 2.0 Token Introspection (RFC 7662) for
 * the token mode's tokens, broker mode only. §2.1 requires the caller to be
 * authorized: only the clients configured in `brokerIntrospectionClients`,
 * with HTTP Basic (RFC 6749 §2.3.1), get any answer; every other caller is
 * a 401 `invalid_client` before the token is even read (§4: no token
 * scanning by strangers).
 */
import { AuthError } from "../errors.ts";
import { jsonResponse, param, parseForm, requiredParam } from "../http.ts";
import type { SessionLifecycle } from "../token-mode.ts";
import type { Endpoint } from "./context.ts";

export const introspection =
  (lifecycle: SessionLifecycle): Endpoint =>
  async (context, request) => {
    if (!(await lifecycle.mayIntrospect(request.authorization))) {
      throw new AuthError(
        401,
        "invalid_client",
        "Introspection needs the credentials of a client allowed to introspect (HTTP Basic).",
        'Basic realm="introspection", charset="UTF-8"',
      );
    }
    const form = await parseForm(request, context.options.maxBodyBytes);
    const token = requiredParam(form, "token");
    return jsonResponse(200, await lifecycle.introspect(token, param(form, "token_type_hint")));
  };
