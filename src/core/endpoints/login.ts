/**
 * GET /auth/v2/login: redirects to the IdP's authorization endpoint with
 * PKCE S256 (RFC 7636), a sealed state and a nonce (README "Login state and
 * PKCE"). A client holding its own verifier sends its `code_challenge`
 * (RFC 8252 §8.1); the state then carries none.
 */
import * as client from "openid-client";
import { badRequest } from "../errors.ts";
import { type AuthRequest, param, redirectResponse, requiredParam } from "../http.ts";
import { isOwnUri } from "../session/request-origin.ts";
import { type Endpoint, type EndpointContext, requestedScope } from "./context.ts";

const PROMPTS = new Set(["none", "login", "consent", "select_account"]);
const PKCE_CHALLENGE = /^[A-Za-z0-9\-_]{43}$/;

export const login: Endpoint = async (context, request) => {
  const { query } = request;
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
  const id = client.randomState();
  const returnTo = browserLoginReturn(context, request, redirectUri, clientChallenge);
  // A browser login keeps its verifier in the browser's cookie, out of the URL.
  const state = await context.loginState.seal({
    id,
    redirectUri,
    nonce,
    verifier: returnTo === undefined ? verifier : undefined,
    browserBound: returnTo !== undefined,
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
  const redirect = redirectResponse(url.href);
  if (returnTo === undefined || context.sessions === undefined || verifier === undefined) {
    return redirect;
  }
  const binding = { stateId: id, verifier, nonce, returnTo };
  return { ...redirect, cookies: [await context.sessions.bindLogin(binding, request.browser)] };
};

/**
 * With browser sessions on, a login whose `redirect_uri` is this app itself
 * (not a command-line client's loopback listener) is a browser login: the
 * page to return to (`return_to`, checked, default the app's `/`); else undefined.
 */
function browserLoginReturn(
  context: EndpointContext,
  request: AuthRequest,
  redirectUri: string,
  clientChallenge: string | undefined,
): string | undefined {
  if (context.sessions === undefined || clientChallenge !== undefined) return undefined;
  if (!isOwnUri(redirectUri, request.browser)) return undefined;
  const requested = param(request.query, "return_to");
  if (requested === undefined) return new URL("/", redirectUri).href;
  const target = context.redirects.returnTarget(requested, redirectUri);
  if (target === undefined) throw badRequest("The return_to is not allowed.");
  return target;
}

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
