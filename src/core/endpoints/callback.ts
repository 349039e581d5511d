/**
 * GET /auth/v2/callback: the IdP's redirect back (RFC 6749 §4.1.2) with
 * `code` and the sealed `state`; exchanges the code with the state's PKCE
 * verifier, checks the nonce, and answers the token mode's token JSON. A
 * browser login (docs/browser-sessions.md "Browser sessions") takes its verifier from the
 * login cookie instead, which must belong to the same state, and ends with
 * a session cookie and a 303 to the page the login started from.
 */
import { badRequest, safeErrorCode } from "../errors.ts";
import { type AuthRequest, jsonResponse, param, requiredParam } from "../http.ts";
import type { LoginState } from "../state.ts";
import { checkNonce, type Endpoint, type EndpointContext } from "./context.ts";

export const callback: Endpoint = async (context, request) => {
  const { query } = request;
  const idpError = param(query, "error");
  if (idpError !== undefined) {
    throw badRequest(
      "The identity provider ended the login with an error.",
      safeErrorCode(idpError),
    );
  }
  const code = requiredParam(query, "code");
  const state = await context.loginState.open(requiredParam(query, "state"));
  // RFC 9207 §2.4: an authorization response naming another issuer is refused.
  const issuer = param(query, "iss");
  if (issuer !== undefined && issuer !== (await context.idp.issuer())) {
    throw badRequest("The authorization response comes from another issuer.");
  }
  if (state.browserBound) return browserCallback(context, request, code, state);
  if (state.verifier === undefined) {
    throw badRequest(
      "This login used the client's own code_challenge: POST code, redirect_uri and code_verifier to the token endpoint.",
    );
  }
  const tokens = await context.idp.exchangeCode(code, state.redirectUri, state.verifier);
  checkNonce(tokens, state.nonce);
  return jsonResponse(200, await context.mode.issue(tokens));
};

async function browserCallback(
  context: EndpointContext,
  request: AuthRequest,
  code: string,
  state: LoginState,
) {
  const { sessions } = context;
  if (sessions === undefined) throw badRequest("Browser sessions are off.", "invalid_grant");
  const binding = await sessions.openLogin(request.browser, state.id);
  const tokens = await context.idp.exchangeCode(code, state.redirectUri, binding.verifier);
  checkNonce(tokens, binding.nonce);
  const established = await sessions.establish(await context.mode.issue(tokens), request.browser);
  return {
    // RFC 9110 §15.4.4: 303, so the page is fetched with GET.
    status: 303,
    headers: { location: binding.returnTo, "cache-control": "no-store" },
    body: undefined,
    cookies: [sessions.clearLogin(request.browser), ...established],
  };
}
