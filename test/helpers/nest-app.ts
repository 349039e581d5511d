/**
 * The fixture app in NestJS's idiom: `OIDCAuthModule.forRoot`, a controller
 * of the user's own with the seed's relative path (auth-ports), placed
 * below the auth prefix with Nest's own `RouterModule`, and one controller
 * per protected route with `@RequireAuth` / `@OptionalAuth` and `@Token()`.
 * The protected controllers are decorated by hand, from PROTECTED_ROUTES,
 * exactly as the decorator syntax would. With `fromConfig` the options come
 * through `forRootAsync` from another module's provider.
 */
import type { DynamicModule, Type } from "@nestjs/common";
import type { OIDCAuthModuleOptions } from "../../src/adapters/nestjs/index.ts";
import type { BrowserSession, IDToken, OIDCAuthOptions, RouterOptions } from "../../src/index.ts";
import {
  AUTH_PORTS,
  describeCaller,
  describeSession,
  PROTECTED_ROUTES,
  SESSION_ROUTE,
} from "./adapters.ts";

export async function nestAppModule(
  options: OIDCAuthOptions,
  router: RouterOptions,
  fromConfig: boolean,
): Promise<DynamicModule> {
  const { AuthSession, OIDCAuthModule, OptionalAuth, RequireAuth, Token } = await import(
    "../../src/adapters/nestjs/index.ts"
  );
  const { Controller, Get, HttpCode, Module, Post } = await import("@nestjs/common");
  const { RouterModule } = await import("@nestjs/core");

  @Controller("auth/v2")
  class AuthPortsController {
    @Get("auth-ports")
    ports() {
      return AUTH_PORTS;
    }
  }

  @Module({ controllers: [AuthPortsController] })
  class AuthRoutesModule {}

  const protectedControllers = PROTECTED_ROUTES.map((route): Type => {
    class ProtectedController {
      show(token: IDToken | undefined) {
        return describeCaller(token);
      }
    }
    const { prototype } = ProtectedController;
    const show = Object.getOwnPropertyDescriptor(prototype, "show") as PropertyDescriptor;
    Token()(prototype, "show", 0);
    Get()(prototype, "show", show);
    (route.optional ? OptionalAuth : RequireAuth)(route.requirement)(prototype, "show", show);
    Controller(route.path)(ProtectedController);
    return ProtectedController;
  });

  // The session route, decorated by hand as above: @RequireAuth, @Token() and @AuthSession().
  class SessionController {
    show(token: IDToken | undefined, session: BrowserSession | undefined) {
      return describeSession(token, session);
    }
    change(token: IDToken | undefined, session: BrowserSession | undefined) {
      return describeSession(token, session);
    }
  }
  for (const [name, verb] of [
    ["show", Get()],
    ["change", Post()],
  ] as const) {
    const { prototype } = SessionController;
    const method = Object.getOwnPropertyDescriptor(prototype, name) as PropertyDescriptor;
    Token()(prototype, name, 0);
    AuthSession()(prototype, name, 1);
    verb(prototype, name, method);
    HttpCode(200)(prototype, name, method);
    RequireAuth()(prototype, name, method);
  }
  Controller(SESSION_ROUTE.slice(1))(SessionController);

  const CONFIG = Symbol("config");
  @Module({ providers: [{ provide: CONFIG, useValue: { ...options, router } }], exports: [CONFIG] })
  class ConfigModule {}

  @Module({})
  class AppModule {}

  const authModule = fromConfig
    ? OIDCAuthModule.forRootAsync({
        imports: [ConfigModule],
        inject: [CONFIG],
        useFactory: async (config: OIDCAuthModuleOptions) => config,
      })
    : OIDCAuthModule.forRoot({ ...options, router });
  return {
    module: AppModule,
    imports: [
      authModule,
      AuthRoutesModule,
      RouterModule.register([{ path: router.prefix ?? "/", module: AuthRoutesModule }]),
    ],
    controllers: [...protectedControllers, SessionController],
  };
}
