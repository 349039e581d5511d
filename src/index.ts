export {
  type ClaimConstraints,
  flattenRoles,
  type IDToken,
  type Requirement,
} from "./core/claims.ts";
export { AuthError, type ErrorBody } from "./core/errors.ts";
export type { AuthRequest, AuthResponse } from "./core/http.ts";
export type { Logger } from "./core/log.ts";
export {
  DEFAULT_PATHS,
  type EndpointName,
  type Guard,
  type GuardOutcome,
  OIDCAuth,
  type Route,
  type RouterOptions,
} from "./core/oidc-auth.ts";
export { ConfigurationError, type OIDCAuthOptions } from "./core/options.ts";
export type { TokenResponseBody } from "./core/tokens.ts";
