/**
 * NestJS 11 adapter (`ts-oidc-auth/nestjs`), on the Express and the Fastify
 * platform: `OIDCAuthModule`, `OIDCAuthGuard`, `@RequireAuth()`,
 * `@OptionalAuth()`, `@Token()` and `@AuthSession()`.
 */
export type { BrowserSession, IDToken, Requirement, RouterOptions } from "../../index.ts";
export {
  AuthSession,
  OIDC_AUTH,
  OIDCAuthGuard,
  OptionalAuth,
  RequireAuth,
  Token,
} from "./guard.ts";
export {
  OIDCAuthModule,
  type OIDCAuthModuleAsyncOptions,
  type OIDCAuthModuleOptions,
} from "./module.ts";
