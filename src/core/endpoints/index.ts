/**
 * The auth router's endpoints (one file each in this folder) and the routes
 * an adapter mounts: each enabled endpoint with its method, its path below
 * the prefix, and a handler that answers every failure as a JSON error.
 */
import { AuthError } from "../errors.ts";
import { type AuthRequest, type AuthResponse, errorResponse } from "../http.ts";
import { describeError, type Logger } from "../log.ts";
import { ConfigurationError } from "../options.ts";
import { DEFAULT_PATHS, METADATA_PATHS } from "../paths.ts";
import { RESOURCE_METADATA_PATH } from "../resource-metadata.ts";
import type { TokenMode } from "../token-mode.ts";
import { backchannelLogout } from "./backchannel-logout.ts";
import { callback } from "./callback.ts";
import type { Endpoint, EndpointContext } from "./context.ts";
import { deviceFlow } from "./device.ts";
import { introspection } from "./introspection.ts";
import { jwks } from "./jwks.ts";
import { login } from "./login.ts";
import { logout } from "./logout.ts";
import { metadata } from "./metadata.ts";
import { resourceMetadata } from "./resource-metadata.ts";
import { revocation } from "./revocation.ts";
import { token } from "./token.ts";
import { userinfo } from "./userinfo.ts";

export type EndpointName = keyof typeof DEFAULT_PATHS | "jwks" | "resourceMetadata";

/** Paths of the auth router; each can be renamed, or switched off with `null`. */
export interface RouterOptions {
  /** Prefix of every path, e.g. `/api` (README "Endpoints": fixed once per auth object). */
  prefix?: string;
  login?: string | null;
  callback?: string | null;
  token?: string | null;
  deviceFlow?: string | null;
  logout?: string | null;
  userinfo?: string | null;
  /** Broker mode only: RFC 7009 token revocation. */
  revocation?: string | null;
  /** Broker mode only: RFC 7662 token introspection. */
  introspection?: string | null;
  /** Broker mode only: the OpenID Connect Back-Channel Logout 1.0 receiver (the `backchannel_logout_uri`). */
  backchannelLogout?: string | null;
  /** Broker mode only; default `brokerJwksPath`. */
  jwks?: string | null;
  /** RFC 9728 protected resource metadata; default `/.well-known/oauth-protected-resource`. */
  resourceMetadata?: string | null;
}

export interface Route {
  /** The endpoint, or `metadata` for the broker's discovery documents. */
  name: EndpointName | "metadata";
  method: "GET" | "POST";
  /** Path below the prefix, starting with `/`. */
  path: string;
  handle(request: AuthRequest): Promise<AuthResponse>;
}

type PathName = keyof typeof DEFAULT_PATHS;

/** Each endpoint's method and handler; `undefined` where the token mode does not offer it. */
const ENDPOINTS: Record<
  PathName,
  { method: Route["method"]; run: (mode: TokenMode) => Endpoint | undefined }
> = {
  login: { method: "GET", run: () => login },
  callback: { method: "GET", run: () => callback },
  token: { method: "POST", run: () => token },
  deviceFlow: { method: "POST", run: () => deviceFlow },
  logout: { method: "GET", run: () => logout },
  userinfo: { method: "GET", run: () => userinfo },
  revocation: { method: "POST", run: ({ lifecycle }) => lifecycle && revocation(lifecycle) },
  introspection: { method: "POST", run: ({ lifecycle }) => lifecycle && introspection(lifecycle) },
  backchannelLogout: {
    method: "POST",
    run: ({ lifecycle, usedOnce }) =>
      lifecycle && usedOnce && backchannelLogout(lifecycle, usedOnce),
  },
};

/** The enabled endpoints of a router, with their paths below its prefix. */
export function routesOf(context: EndpointContext, router: RouterOptions): Route[] {
  checkTokenEndpoint(context, router);
  const route = (name: Route["name"], method: Route["method"], path: string, run: Endpoint) => ({
    name,
    method,
    path,
    handle: (request: AuthRequest) => answer(context.options.logger, () => run(context, request)),
  });
  const paths: Partial<Record<PathName, string>> = {};
  const routes: Route[] = [];
  for (const name of Object.keys(ENDPOINTS) as PathName[]) {
    const path = router[name] === undefined ? DEFAULT_PATHS[name] : router[name];
    const { method, run } = ENDPOINTS[name];
    const endpoint = run(context.mode);
    if (path === null || endpoint === undefined) continue;
    paths[name] = path;
    routes.push(route(name, method, path, endpoint));
  }
  const { publication } = context.mode;
  const resourcePath = router.resourceMetadata ?? RESOURCE_METADATA_PATH;
  if (router.resourceMetadata !== null) {
    const published = { ...paths, ...(router.jwks ? { jwks: router.jwks } : {}) };
    routes.push(route("resourceMetadata", "GET", resourcePath, resourceMetadata(published)));
    context.resource.markServed(resourcePath);
  }
  if (publication === undefined) return routes;
  const jwksPath = router.jwks === undefined ? publication.jwksPath : router.jwks;
  if (jwksPath !== null) routes.push(route("jwks", "GET", jwksPath, jwks(publication)));
  const document = metadata(publication, {
    ...paths,
    ...(jwksPath === null ? {} : { jwks: jwksPath }),
  });
  for (const path of METADATA_PATHS) routes.push(route("metadata", "GET", path, document));
  return routes;
}

/** py-oidc-auth's rule (auth_base.py `_validate_broker_config`), checked when a router is made. */
function checkTokenEndpoint({ mode, options }: EndpointContext, router: RouterOptions): void {
  if (router.token !== null && !mode.mintsTokens) {
    options.logger.warn(
      "The token endpoint hands out the IdP's own tokens (no broker mode): clients get tokens that are not restricted to this app's audience. Consider brokerMode: true.",
    );
  }
  if (router.token === null && mode.mintsTokens) {
    throw new ConfigurationError(
      "token",
      "broker mode needs the token endpoint: clients get and refresh broker tokens there",
    );
  }
}

/** Runs an endpoint, turning every failure into a JSON error response. */
async function answer(logger: Logger, run: () => Promise<AuthResponse>): Promise<AuthResponse> {
  try {
    return await run();
  } catch (error) {
    return errorResponse(asAuthError(error, logger));
  }
}

/** An AuthError as it is; anything else is a 500 whose cause is logged without its message. */
export function asAuthError(error: unknown, logger: Logger): AuthError {
  if (error instanceof AuthError) return error;
  logger.error(`Unexpected error: ${describeError(error)}`);
  return new AuthError(500, "server_error", "An internal error occurred.");
}
