/**
 * `ts-oidc-auth/client`: tokens for scripts and command-line tools that call
 * APIs protected by ts-oidc-auth or py-oidc-auth. Node.js only; imports
 * nothing of the server side.
 */
export {
  type AuthenticateOptions,
  authenticate,
  type ConnectionOptions,
  type LoginFlow,
  logout,
  TOKEN_ENV_VAR,
} from "./authenticate.ts";
export { AuthClientError, LoginRequiredError, TokenStoreError } from "./errors.ts";
export {
  type DevicePrompt,
  type LoginReporter,
  silentReporter,
  stderrReporter,
  type WaitStatus,
} from "./reporter.ts";
export { type AuthPaths, DEFAULT_AUTH_PATHS } from "./server.ts";
export { defaultTokenStorePath, hostKey, TokenStore } from "./store.ts";
export type { StoredToken, Token } from "./token.ts";
