/**
 * Fastify 5 adapter: a plugin with the auth endpoints and `preHandler`
 * guards, translating Fastify's request and reply to the core and back.
 */
import type {
  FastifyPluginAsync,
  FastifyReply,
  FastifyRequest,
  preHandlerAsyncHookHandler,
} from "fastify";
import type { AuthCore } from "../core/auth-core.ts";
import type { IDToken, Requirement } from "../core/claims.ts";
import type { RouterOptions } from "../core/endpoints/index.ts";
import type { Guard } from "../core/guard.ts";
import type { AuthResponse } from "../core/http.ts";
import type { BrowserSession } from "../core/session/guard.ts";
import { OIDCAuth } from "../oidc-auth.ts";
import { nodeAuthorization, nodeAuthRequest, nodeBrowser } from "./node-request.ts";

// The plugin only uses the instance it is registered on: fastify itself is
// not loaded here (types only), so nothing waits at import (README "CommonJS").

declare module "fastify" {
  interface FastifyRequest {
    /** The validated token's claims; set by `required()`, `undefined` when `optional()` finds none. */
    token?: IDToken;
    /** The browser session that authenticated the request (README "Browser sessions"), if one did. */
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
  required(requirement?: Requirement): preHandlerAsyncHookHandler;
  /** `preHandler`: `request.token` is the valid token, or `undefined` for anonymous callers. */
  optional(requirement?: Requirement): preHandlerAsyncHookHandler;
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
  required(requirement?: Requirement): preHandlerAsyncHookHandler {
    return this.#fastify.required(requirement);
  }
  optional(requirement?: Requirement): preHandlerAsyncHookHandler {
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

function preHandler(guard: Guard): preHandlerAsyncHookHandler {
  return async (request, reply) => {
    const outcome = await guard(nodeAuthorization(request.raw), nodeBrowser(request.raw));
    if (outcome.kind === "denied") return send(reply, outcome.response);
    // Fastify sends an array of set-cookie values as separate header lines.
    if (outcome.cookies?.length) reply.header("set-cookie", outcome.cookies);
    request.token = outcome.kind === "token" ? outcome.token : undefined;
    request.authSession = outcome.kind === "token" ? outcome.session : undefined;
  };
}

function send(reply: FastifyReply, response: AuthResponse): FastifyReply {
  reply.code(response.status).headers(response.headers);
  if (response.cookies?.length) reply.header("set-cookie", response.cookies);
  return response.body === undefined ? reply.send() : reply.send(response.body);
}

export type { BrowserSession, IDToken, Requirement, RouterOptions };
