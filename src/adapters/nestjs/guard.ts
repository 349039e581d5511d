/**
 * The NestJS guard and decorators: `@RequireAuth({ scopes, claims })` /
 * `@OptionalAuth()` on a handler or a controller, and `@Token()` for the
 * validated token. The guard only asks the core and translates its answer.
 */
import type { IncomingMessage } from "node:http";
import type { CanActivate, ExecutionContext } from "@nestjs/common";
import type { HttpAdapterHost, Reflector } from "@nestjs/core";
import type { AuthCore } from "../../core/auth-core.ts";
import type { IDToken, Requirement } from "../../core/claims.ts";
import type { Guard } from "../../core/guard.ts";
import type { AuthResponse } from "../../core/http.ts";
import type { BrowserSession } from "../../core/session/guard.ts";
import { nodeAuthorization, nodeBrowser, nodeOrigin } from "../node-request.ts";
import { common, core } from "./peers.ts";

const { applyDecorators, createParamDecorator, HttpException, Inject, Injectable } = common;
const { SetMetadata, UseGuards } = common;

/** The injection token of the module's `OIDCAuth` instance. */
export const OIDC_AUTH = Symbol.for("ts-oidc-auth:OIDCAuth");

const AUTH_METADATA = "ts-oidc-auth:auth";

interface AuthMetadata {
  optional: boolean;
  requirement: Requirement | undefined;
}

/** The request as both platforms present it to guards: Express's is Node's, Fastify's holds it in `raw`. */
interface GuardedRequest extends Pick<IncomingMessage, "headers" | "rawHeaders" | "method"> {
  raw?: IncomingMessage;
  token?: IDToken | undefined;
  authSession?: BrowserSession | undefined;
}

/**
 * Admits a request with a valid token meeting the handler's (else the
 * controller's) requirement; without `@RequireAuth`/`@OptionalAuth` it
 * requires a valid token. Refusals carry the core's JSON and headers.
 */
@Injectable()
export class OIDCAuthGuard implements CanActivate {
  private readonly guards = new WeakMap<AuthMetadata, Guard>();
  private readonly fallback: Guard;

  constructor(
    @Inject(OIDC_AUTH) private readonly auth: AuthCore,
    @Inject(core.Reflector) private readonly reflector: Reflector,
    @Inject(core.HttpAdapterHost) private readonly adapterHost: HttpAdapterHost,
  ) {
    this.fallback = auth.guard();
  }

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const http = context.switchToHttp();
    const request = http.getRequest<GuardedRequest>();
    const node = request.raw ?? request;
    const outcome = await this.guardFor(context)(
      nodeAuthorization(node),
      () => nodeOrigin(node as IncomingMessage),
      () => nodeBrowser(node),
    );
    if (outcome.kind === "denied") throw this.refusal(http.getResponse(), outcome.response);
    this.setCookies(http.getResponse(), outcome.cookies);
    request.token = outcome.kind === "token" ? outcome.token : undefined;
    request.authSession = outcome.kind === "token" ? outcome.session : undefined;
    return true;
  }

  /** The compiled guard of the metadata, compiled once per decorator use. */
  private guardFor(context: ExecutionContext): Guard {
    const metadata = this.reflector.getAllAndOverride<AuthMetadata | undefined>(AUTH_METADATA, [
      context.getHandler(),
      context.getClass(),
    ]);
    if (metadata === undefined) return this.fallback;
    let guard = this.guards.get(metadata);
    if (guard === undefined) {
      guard = this.auth.guard(metadata.requirement, metadata.optional);
      this.guards.set(metadata, guard);
    }
    return guard;
  }

  /** Nest's exception layer sends the body; the headers (WWW-Authenticate, Retry-After) go on first. */
  private refusal(response: unknown, refused: AuthResponse): Error {
    const adapter = this.adapterHost.httpAdapter;
    for (const [name, value] of Object.entries(refused.headers)) {
      adapter.setHeader(response, name, value);
    }
    this.setCookies(response, refused.cookies);
    return new HttpException(refused.body as Record<string, unknown>, refused.status);
  }

  /** Each `Set-Cookie` on its own line: both platforms' `appendHeader` add one without replacing. */
  private setCookies(response: unknown, cookies: readonly string[] | undefined): void {
    for (const cookie of cookies ?? []) {
      this.adapterHost.httpAdapter.appendHeader(response, "set-cookie", cookie);
    }
  }
}

/** A valid token meeting the requirement, or 401/403/503; on a handler or a controller. */
export function RequireAuth(requirement?: Requirement): ClassDecorator & MethodDecorator {
  return authDecorator({ optional: false, requirement });
}

/** `@Token()` is the valid token meeting the requirement, or `undefined` for anonymous callers. */
export function OptionalAuth(requirement?: Requirement): ClassDecorator & MethodDecorator {
  return authDecorator({ optional: true, requirement });
}

function authDecorator(metadata: AuthMetadata): ClassDecorator & MethodDecorator {
  return applyDecorators(SetMetadata(AUTH_METADATA, metadata), UseGuards(OIDCAuthGuard));
}

/** The browser session that authenticated the request (docs/browser-sessions.md "Browser sessions"), else `undefined`. */
export const AuthSession: () => ParameterDecorator = createParamDecorator(
  (_data: unknown, context: ExecutionContext): BrowserSession | undefined =>
    context.switchToHttp().getRequest<GuardedRequest>().authSession,
);

/** The validated token of the request (`undefined` when an optional guard found none). */
export const Token: () => ParameterDecorator = createParamDecorator(
  (_data: unknown, context: ExecutionContext): IDToken | undefined =>
    context.switchToHttp().getRequest<GuardedRequest>().token,
);
