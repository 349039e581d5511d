/**
 * Fastify 5 adapter: a plugin with the auth endpoints and `preHandler`
 * guards, translating Fastify's request and reply to the core and back.
 */
import type {
  FastifyPluginAsync,
  FastifyReply,
  FastifyRequest,
  HookHandlerDoneFunction,
  preHandlerHookHandler,
} from "fastify";
import type { AuthCore } from "../core/auth-core.ts";
import type { IDToken, Requirement } from "../core/claims.ts";
import type { RouterOptions } from "../core/endpoints/index.ts";
import type { Guard, GuardOutcome } from "../core/guard.ts";
import type { AuthResponse } from "../core/http.ts";
import type { BrowserSession } from "../core/session/guard.ts";
import { OIDCAuth } from "../oidc-auth.ts";
import { nodeAuthorization, nodeAuthRequest, nodeBrowser, nodeOrigin } from "./node-request.ts";

// The plugin only uses the instance it is registered on: fastify itself is
// not loaded here (types only), so nothing waits at import (README "CommonJS").

declare module "fastify" {
  interface FastifyRequest {
    /** The validated token's claims; set by `required()`, `undefined` when `optional()` finds none. */
    token?: IDToken;
    /** The browser session that authenticated the request (docs/browser-sessions.md "Browser sessions"), if one did. */
    authSession?: BrowserSession;
  }
}

/** The endpoint paths; the prefix is Fastify's own `register(plugin, { prefix })`. */
export type FastifyRouterOptions = Omit<RouterOptions, "prefix">;

export interface FastifyAuth {
  /**
   * A plugin with the auth endpoints: `app.register(auth.plugin(), { prefix: "/api" })`.
   * To add routes under the same prefix, register it inside your own
   * prefixed plugin and add them beside it.
   */
  plugin(options?: FastifyRouterOptions): FastifyPluginAsync;
  /** `preHandler`: a valid token (meeting the requirement) or a 401/403/503 JSON error. */
  required(requirement?: Requirement): preHandlerHookHandler;
  /** `preHandler`: `request.token` is the valid token, or `undefined` for anonymous callers. */
  optional(requirement?: Requirement): preHandlerHookHandler;
}

/** The Fastify face of an auth object. */
export function fastifyAuth(auth: AuthCore): FastifyAuth {
  return {
    plugin: (options = {}) => authPlugin(auth, options),
    required: (requirement) => preHandler(auth.guard(requirement, false)),
    optional: (requirement) => preHandler(auth.guard(requirement, true)),
  };
}

export class FastifyOIDCAuth extends OIDCAuth implements FastifyAuth {
  readonly #fastify = fastifyAuth(this);
  plugin(options?: FastifyRouterOptions): FastifyPluginAsync {
    return this.#fastify.plugin(options);
  }
  required(requirement?: Requirement): preHandlerHookHandler {
    return this.#fastify.required(requirement);
  }
  optional(requirement?: Requirement): preHandlerHookHandler {
    return this.#fastify.optional(requirement);
  }
}

function authPlugin(auth: AuthCore, options: FastifyRouterOptions): FastifyPluginAsync {
  return async (instance) => {
    // The core reads, limits and parses the body itself (413/415 in its own
    // JSON), so within this plugin's encapsulated context no parser of
    // Fastify's reads it first: the stream stays in `request.raw`.
    instance.removeAllContentTypeParsers();
    instance.addContentTypeParser("*", (_request, _payload, done) => done(null));
    for (const route of auth.routes({ ...options, prefix: instance.prefix })) {
      instance.route({
        method: route.method,
        url: route.path,
        handler: async (request, reply) => send(reply, await route.handle(toAuthRequest(request))),
      });
    }
  };
}

function toAuthRequest(request: FastifyRequest) {
  return nodeAuthRequest(request.raw, request.url);
}

/**
 * A callback-style `preHandler`: Fastify runs it without a promise when the
 * guard answers at once (guard.ts). A denial replies and ends the hooks
 * (no `done`); an error thrown while replying goes to `done`.
 */
function preHandler(guard: Guard): preHandlerHookHandler {
  const apply = (
    request: FastifyRequest,
    reply: FastifyReply,
    done: HookHandlerDoneFunction,
    outcome: GuardOutcome,
  ) => {
    if (outcome.kind === "denied") {
      send(reply, outcome.response);
      return;
    }
    // Fastify sends an array of set-cookie values as separate header lines.
    if (outcome.cookies?.length) reply.header("set-cookie", outcome.cookies);
    request.token = outcome.kind === "token" ? outcome.token : undefined;
    request.authSession = outcome.kind === "token" ? outcome.session : undefined;
    done();
  };
  return (request, reply, done) => {
    const outcome = guard(
      nodeAuthorization(request.raw),
      () => nodeOrigin(request.raw),
      () => nodeBrowser(request.raw),
    );
    if (!(outcome instanceof Promise)) return apply(request, reply, done, outcome);
    outcome.then((settled) => apply(request, reply, done, settled)).catch(done);
  };
}

function send(reply: FastifyReply, response: AuthResponse): FastifyReply {
  reply.code(response.status).headers(response.headers);
  if (response.cookies?.length) reply.header("set-cookie", response.cookies);
  return response.body === undefined ? reply.send() : reply.send(response.body);
}

export type { BrowserSession, IDToken, Requirement, RouterOptions };
