/**
 * GET /auth/v2/callback: the IdP's redirect back (RFC 6749 §4.1.2) with
 * `code` and the sealed `state`; exchanges the code with the state's PKCE
 * verifier, checks the nonce, and answers the token mode's token JSON.
 */
import { badRequest, safeErrorCode } from "../errors.ts";
import { jsonResponse, param, requiredParam } from "../http.ts";
import { checkNonce, type Endpoint } from "./context.ts";

export const callback: Endpoint = async (context, { query }) => {
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
  if (state.verifier === undefined) {
    throw badRequest(
      "This login used the client's own code_challenge: POST code, redirect_uri and code_verifier to the token endpoint.",
    );
  }
  const tokens = await context.idp.exchangeCode(code, state.redirectUri, state.verifier);
  checkNonce(tokens, state.nonce);
  return jsonResponse(200, await context.mode.issue(tokens));
};
