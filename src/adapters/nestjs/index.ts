/**
 * NestJS 11 adapter (`ts-oidc-auth/nestjs`), on the Express and the Fastify
 * platform: `OIDCAuthModule`, `OIDCAuthGuard`, `@RequireAuth()`,
 * `@OptionalAuth()` and `@Token()`.
 */
export type { IDToken, Requirement, RouterOptions } from "../../index.ts";
export { OIDC_AUTH, OIDCAuthGuard, OptionalAuth, RequireAuth, Token } from "./guard.ts";
export {
  OIDCAuthModule,
  type OIDCAuthModuleAsyncOptions,
  type OIDCAuthModuleOptions,
} from "./module.ts";
