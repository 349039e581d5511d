/**
 * `OIDCAuthModule.forRoot(options)` / `forRootAsync(...)`: provides the
 * `OIDCAuth` instance and the guard everywhere (a global module), and mounts
 * the auth endpoints on the application's Express or Fastify instance.
 *
 * The endpoints are mounted with the Express / Fastify adapters' own router
 * and plugin, not as Nest controllers: Nest's global body parsers would
 * otherwise read (and size-limit) the body before the core sees it, and
 * answer bad bodies with the platform's own errors instead of the core's
 * 413/415 JSON. They are mounted as soon as the HTTP adapter exists, which is
 * before Nest registers its parsers.
 */
import type { DynamicModule, FactoryProvider, ModuleMetadata } from "@nestjs/common";
import type { AbstractHttpAdapter, HttpAdapterHost } from "@nestjs/core";
import type { AuthCore } from "../../core/auth-core.ts";
import { OIDCAuth, type OIDCAuthOptions, type RouterOptions } from "../../index.ts";
import { OIDC_AUTH, OIDCAuthGuard } from "./guard.ts";
import { common, core } from "./peers.ts";

const { Global, Module } = common;

export interface OIDCAuthModuleOptions extends OIDCAuthOptions {
  /**
   * Where the endpoints are, e.g. `{ prefix: "/api" }`. Nest's global prefix
   * does not apply to them: they are mounted below Nest's router.
   */
  router?: RouterOptions;
}

export interface OIDCAuthModuleAsyncOptions
  extends Pick<ModuleMetadata, "imports">,
    Pick<FactoryProvider<OIDCAuthModuleOptions | Promise<OIDCAuthModuleOptions>>, "inject"> {
  useFactory: FactoryProvider<OIDCAuthModuleOptions | Promise<OIDCAuthModuleOptions>>["useFactory"];
}

const MODULE_OPTIONS = Symbol("ts-oidc-auth:module-options");
const ENDPOINTS = Symbol("ts-oidc-auth:endpoints");

@Global()
@Module({})
// biome-ignore lint/complexity/noStaticOnlyClass: a Nest dynamic module is a class with static forRoot().
export class OIDCAuthModule {
  static forRoot(options: OIDCAuthModuleOptions): DynamicModule {
    return OIDCAuthModule.forRootAsync({ useFactory: () => options });
  }

  static forRootAsync(options: OIDCAuthModuleAsyncOptions): DynamicModule {
    return {
      module: OIDCAuthModule,
      global: true,
      imports: options.imports ?? [],
      providers: [
        { provide: MODULE_OPTIONS, useFactory: options.useFactory, inject: options.inject ?? [] },
        {
          provide: OIDC_AUTH,
          useFactory: ({ router: _, ...authOptions }: OIDCAuthModuleOptions) =>
            new OIDCAuth(authOptions),
          inject: [MODULE_OPTIONS],
        },
        {
          provide: ENDPOINTS,
          useFactory: mountEndpoints,
          inject: [OIDC_AUTH, MODULE_OPTIONS, core.HttpAdapterHost],
        },
        OIDCAuthGuard,
      ],
      exports: [OIDC_AUTH, OIDCAuthGuard],
    };
  }
}

type Mount = (adapter: AbstractHttpAdapter, auth: AuthCore, router: RouterOptions) => void;

/** Per platform (`adapter.getType()`), how to mount the endpoints; loaded on demand. */
const PLATFORMS: Record<string, () => Promise<Mount>> = {
  express: async () => {
    const { expressAuth } = await import("../express.ts");
    return (adapter, auth, router) => adapter.use(expressAuth(auth).createAuthRouter(router));
  },
  fastify: async () => {
    const { fastifyAuth } = await import("../fastify.ts");
    type Plugin = ReturnType<ReturnType<typeof fastifyAuth>["plugin"]>;
    return (adapter, auth, { prefix, ...paths }) => {
      const fastify = adapter.getInstance<{
        register(p: Plugin, o: { prefix: string }): unknown;
      }>();
      fastify.register(fastifyAuth(auth).plugin(paths), { prefix: prefix ?? "" });
    };
  },
};

async function mountEndpoints(
  auth: AuthCore,
  options: OIDCAuthModuleOptions,
  host: HttpAdapterHost,
): Promise<void> {
  const router = options.router ?? {};
  const adapter: AbstractHttpAdapter | undefined = host.httpAdapter;
  if (adapter !== undefined) {
    (await platform(adapter.getType()))(adapter, auth, router);
    return;
  }
  // A testing module is compiled before its application (and adapter)
  // exists: load every platform now, mount when the adapter arrives.
  const loaded = new Map<string, Promise<Mount>>();
  for (const name of Object.keys(PLATFORMS)) loaded.set(name, platform(name));
  const mounts = new Map<string, Mount | Error>();
  for (const [name, mount] of loaded) mounts.set(name, await mount.catch((error: Error) => error));
  host.init$.subscribe(() => {
    const mount = mounts.get(host.httpAdapter.getType()) ?? unsupported(host.httpAdapter.getType());
    if (mount instanceof Error) throw mount;
    mount(host.httpAdapter, auth, router);
  });
}

function platform(name: string): Promise<Mount> {
  const load = PLATFORMS[name];
  return load === undefined ? Promise.reject(unsupported(name)) : load();
}

function unsupported(name: string): Error {
  return new Error(
    `ts-oidc-auth/nestjs mounts its endpoints on the Express and Fastify platforms, not on "${name}".`,
  );
}
