/**
 * POST /auth/v2/token: one form, four grants. A code (with `redirect_uri`
 * and `code_verifier`, plain or the sealed state), a refresh token, a device
 * code (RFC 8628 §3.4), or a token exchange (RFC 8693) where the token mode
 * offers one. py-oidc-auth clients' `refresh-token` and `device-code` are
 * read too.
 */
import type { IDToken } from "../claims.ts";
import { AuthError, badRequest } from "../errors.ts";
import { jsonResponse, param, parseForm, requiredParam } from "../http.ts";
import { LoginStateSealer } from "../state.ts";
import { checkNonce, type Endpoint, type EndpointContext } from "./context.ts";

const TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token";
const KNOWN_GRANTS = new Set([
  "authorization_code",
  "refresh_token",
  "urn:ietf:params:oauth:grant-type:device_code",
]);
const PKCE_VERIFIER = /^[A-Za-z0-9\-._~]{43,128}$/;

export const token: Endpoint = async (context, request) => {
  const form = await parseForm(request, context.options.maxBodyBytes);
  const grantType = param(form, "grant_type");
  const code = param(form, "code");
  const refreshToken = param(form, "refresh_token", "refresh-token");
  const deviceCode = param(form, "device_code", "device-code");
  const given = [code, refreshToken, deviceCode].filter((v) => v !== undefined).length;
  if (given > 1) throw badRequest("Send only one of code, refresh_token and device_code.");
  if (grantType === TOKEN_EXCHANGE) return tokenExchange(context, form);
  if (code !== undefined) return tokenFromCode(context, form, code);
  if (refreshToken !== undefined)
    return jsonResponse(200, await context.mode.refresh(refreshToken));
  if (deviceCode !== undefined) {
    return jsonResponse(200, await context.mode.issue(await context.idp.pollDevice(deviceCode)));
  }
  if (grantType !== undefined && !KNOWN_GRANTS.has(grantType)) {
    throw badRequest("This grant type is not supported.", "unsupported_grant_type");
  }
  throw badRequest("One of code, refresh_token or device_code is required.");
};

async function tokenFromCode(context: EndpointContext, form: URLSearchParams, code: string) {
  const redirectUri = requiredParam(form, "redirect_uri");
  const codeVerifier = requiredParam(form, "code_verifier");
  if (!LoginStateSealer.isSealed(codeVerifier)) {
    if (!PKCE_VERIFIER.test(codeVerifier)) throw badRequest("The code_verifier is malformed.");
    const tokens = await context.idp.exchangeCode(code, redirectUri, codeVerifier);
    return jsonResponse(200, await context.mode.issue(tokens));
  }
  const state = await context.loginState.open(codeVerifier);
  if (state.redirectUri !== redirectUri) {
    throw badRequest("The redirect_uri differs from the one used at login.", "invalid_grant");
  }
  if (state.browserBound) {
    throw badRequest(
      "This login is bound to the browser that started it: it ends at the callback, in that browser.",
      "invalid_grant",
    );
  }
  if (state.verifier === undefined) {
    throw badRequest("This login used the client's own code_challenge: send its code_verifier.");
  }
  const tokens = await context.idp.exchangeCode(code, redirectUri, state.verifier);
  checkNonce(tokens, state.nonce);
  return jsonResponse(200, await context.mode.issue(tokens));
}

/** RFC 8693: a valid IdP access token for this app in, a token of the mode out. */
async function tokenExchange(context: EndpointContext, form: URLSearchParams) {
  const { mode } = context;
  if (mode.exchange === undefined) {
    throw badRequest("Token exchange needs broker mode.", "unsupported_grant_type");
  }
  const subjectToken = requiredParam(form, "subject_token");
  const subjectTokenType = param(form, "subject_token_type") ?? ACCESS_TOKEN_TYPE;
  if (subjectTokenType !== ACCESS_TOKEN_TYPE) {
    throw badRequest("Only access tokens can be exchanged.");
  }
  let claims: IDToken;
  try {
    claims = await context.idpTokens.verify(subjectToken);
  } catch (error) {
    if (error instanceof AuthError && error.status === 401) {
      throw badRequest("The subject_token is not a valid token for this app.", "invalid_grant");
    }
    throw error;
  }
  return jsonResponse(200, await mode.exchange(claims, subjectToken));
}
