/**
 * GET /auth/v2/login: redirects to the IdP's authorization endpoint with
 * PKCE S256 (RFC 7636), a sealed state and a nonce (README "Login state and
 * PKCE"). A client holding its own verifier sends its `code_challenge`
 * (RFC 8252 §8.1); the state then carries none.
 */
import * as client from "openid-client";
import { badRequest } from "../errors.ts";
import { param, redirectResponse, requiredParam } from "../http.ts";
import { type Endpoint, requestedScope } from "./context.ts";

const PROMPTS = new Set(["none", "login", "consent", "select_account"]);
const PKCE_CHALLENGE = /^[A-Za-z0-9\-_]{43}$/;

export const login: Endpoint = async (context, { query }) => {
  // Exactly the URL that was checked goes on, normalised (WHATWG URL), never the raw text.
  const redirectUri = context.redirects.allowed(requiredParam(query, "redirect_uri"));
  if (redirectUri === undefined) throw badRequest("The redirect_uri is not allowed.");
  const prompt = param(query, "prompt");
  if (prompt !== undefined && !PROMPTS.has(prompt)) {
    throw badRequest('"prompt" must be one of none, login, consent, select_account.');
  }
  const offline = booleanParam(param(query, "offline_access")) ?? context.options.offlineAccess;
  const clientChallenge = clientCodeChallenge(query);
  const verifier = clientChallenge ? undefined : client.randomPKCECodeVerifier();
  const nonce = client.randomNonce();
  const state = await context.loginState.seal({
    id: client.randomState(),
    redirectUri,
    nonce,
    verifier,
  });
  const url = await context.idp.authorizationUrl({
    response_type: "code",
    redirect_uri: redirectUri,
    scope: requestedScope(context.options, param(query, "scope"), offline),
    state,
    nonce,
    code_challenge: clientChallenge ?? (await client.calculatePKCECodeChallenge(verifier ?? "")),
    code_challenge_method: "S256",
    ...(prompt === undefined ? {} : { prompt }),
  });
  return redirectResponse(url.href);
};

function clientCodeChallenge(query: URLSearchParams): string | undefined {
  const challenge = param(query, "code_challenge");
  const method = param(query, "code_challenge_method");
  if (challenge === undefined) {
    if (method !== undefined) throw badRequest("code_challenge_method needs a code_challenge.");
    return undefined;
  }
  if ((method ?? "S256") !== "S256") {
    throw badRequest("Only the S256 code_challenge_method is allowed.");
  }
  if (!PKCE_CHALLENGE.test(challenge)) throw badRequest("The code_challenge is malformed.");
  return challenge;
}

function booleanParam(value: string | undefined): boolean | undefined {
  if (value === undefined) return undefined;
  if (["true", "1", "yes"].includes(value.toLowerCase())) return true;
  if (["false", "0", "no"].includes(value.toLowerCase())) return false;
  throw badRequest('"offline_access" must be true or false.');
}
