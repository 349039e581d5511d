/**
 * POST /auth/v2/backchannel-logout: the receiver of OpenID Connect
 * Back-Channel Logout 1.0, broker mode only (passthrough mode keeps no
 * sessions to end). The IdP posts a `logout_token` (§2.5); it is validated
 * as §2.6 says (logout-token.ts), refused when its `jti` was seen before by
 * any instance sharing the store (§2.6 step 8), and then every broker
 * session of that IdP session (`sid`) or subject (`sub`) ends (§2.7).
 * 200 on success, 400 with a JSON error otherwise, never cached (§2.8).
 */
import { base64url } from "jose";
import { badRequest } from "../errors.ts";
import { type AuthResponse, parseForm, requiredParam } from "../http.ts";
import { verifyLogoutToken } from "../logout-token.ts";
import type { UsedOnceRegistry } from "../state.ts";
import type { SessionLifecycle } from "../token-mode.ts";
import type { Endpoint } from "./context.ts";

export const backchannelLogout =
  (lifecycle: SessionLifecycle, received: UsedOnceRegistry): Endpoint =>
  async (context, request) => {
    const form = await parseForm(request, context.options.maxBodyBytes);
    const { options } = context;
    const logout = await verifyLogoutToken(requiredParam(form, "logout_token"), {
      ...(await context.idpTokens.idpKeys()),
      clientId: options.clientId,
      algorithms: options.algorithms,
      clockToleranceSeconds: options.clockToleranceSeconds,
    });
    const id = `logout-token.${await digest(`${logout.iss} ${logout.jti}`)}`;
    if (!(await received.useOnce(id, logout.replayableUntil))) {
      throw badRequest("The logout_token was already received.");
    }
    await lifecycle.endIdpSessions({
      ...(logout.sub === undefined ? {} : { subject: logout.sub }),
      ...(logout.sid === undefined ? {} : { idpSid: logout.sid }),
    });
    return {
      status: 200,
      headers: { "cache-control": "no-store", pragma: "no-cache" },
      body: undefined,
    } satisfies AuthResponse;
  };

/** The replay record's id: fixed length, whatever the IdP's `jti` looks like. */
async function digest(text: string): Promise<string> {
  const bytes = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return base64url.encode(new Uint8Array(bytes));
}
