/**
 * The wire paths of the auth endpoints below the router prefix: what
 * py-oidc-auth serves and its clients call. The server's routes and the
 * command-line client read them from here.
 */
export const DEFAULT_PATHS = {
  login: "/auth/v2/login",
  callback: "/auth/v2/callback",
  token: "/auth/v2/token",
  deviceFlow: "/auth/v2/device",
  logout: "/auth/v2/logout",
  userinfo: "/auth/v2/userinfo",
  // Broker mode only (docs/broker.md "Broker mode"): RFC 7009, RFC 7662, Back-Channel Logout 1.0 §2.
  revocation: "/auth/v2/revoke",
  introspection: "/auth/v2/introspect",
  backchannelLogout: "/auth/v2/backchannel-logout",
} as const;

/** Where broker mode publishes its keys below the prefix (`brokerJwksPath`). */
export const DEFAULT_JWKS_PATH = "/auth/v2/.well-known/jwks.json";

/** Where broker mode publishes its metadata below the prefix (RFC 8414 §3, OpenID Connect Discovery §4). */
export const METADATA_PATHS = [
  "/.well-known/openid-configuration",
  "/.well-known/oauth-authorization-server",
] as const;
