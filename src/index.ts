export {
  type ClaimConstraint,
  type ClaimConstraints,
  flattenRoles,
  type IDToken,
  type Requirement,
} from "./core/claims.ts";
export type { EndpointName, Route, RouterOptions } from "./core/endpoints/index.ts";
export { AuthError, type ErrorBody } from "./core/errors.ts";
export type { Guard, GuardOutcome } from "./core/guard.ts";
export type { AuthRequest, AuthResponse, BrowserRequest, RawBody } from "./core/http.ts";
export { fieldsFirst, type LogFields, type Logger } from "./core/log.ts";
export { ConfigurationError } from "./core/options.ts";
export { DEFAULT_PATHS } from "./core/paths.ts";
export type { BrowserSession } from "./core/session/guard.ts";
export type { BrowserSessionOptions } from "./core/session/options.ts";
export type { IntrospectionBody } from "./core/token-mode.ts";
export type { TokenResponseBody } from "./core/token-response.ts";
export { OIDCAuth, type OIDCAuthOptions } from "./oidc-auth.ts";
