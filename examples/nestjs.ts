import "reflect-metadata";
import { Controller, Get, Module } from "@nestjs/common";
import { NestFactory, RouterModule } from "@nestjs/core";
import {
  type IDToken,
  OIDCAuthModule,
  OptionalAuth,
  RequireAuth,
  Token,
} from "ts-oidc-auth/nestjs";

// Your own routes beside the auth endpoints: Nest's RouterModule (below) puts them under /api.
@Controller("auth/v2")
class AuthPortsController {
  @Get("auth-ports")
  ports() {
    return { valid_ports: [8080, 8443] };
  }
}

@Module({ controllers: [AuthPortsController] })
class AuthRoutesModule {}

// Protected routes: @Token() is the validated token's claims.
@Controller()
class MeController {
  @Get("me")
  @RequireAuth()
  me(@Token() token: IDToken) {
    return { sub: token.sub };
  }

  @Get("maybe_me")
  @OptionalAuth()
  maybeMe(@Token() token: IDToken | undefined) {
    return token === undefined ? { anonymous: true } : { sub: token.sub };
  }

  // Scopes and claims: every listed scope, and every listed value of each claim path.
  @Get("admin")
  @RequireAuth({ scopes: "myscope", claims: { roles: ["admin"] } })
  admin(@Token() token: IDToken) {
    return { hello: token.preferred_username };
  }
}

@Module({
  imports: [
    // The auth endpoints under /api/auth/v2/…
    OIDCAuthModule.forRoot({
      clientId: process.env.OIDC_CLIENT_ID ?? "my-client",
      clientSecret: process.env.OIDC_CLIENT_SECRET ?? "secret",
      discoveryUrl:
        process.env.OIDC_DISCOVERY_URL ??
        "https://idp.example.org/realms/demo/.well-known/openid-configuration",
      scopes: "myscope profile email",
      audience: process.env.OIDC_AUDIENCE ?? "my-aud",
      router: { prefix: "/api" },
    }),
    // Your routes of the auth prefix, relative to it, as on the other adapters' routers.
    AuthRoutesModule,
    RouterModule.register([{ path: "/api", module: AuthRoutesModule }]),
  ],
  controllers: [MeController],
})
class AppModule {}

// Express platform; for Fastify: NestFactory.create(AppModule, new FastifyAdapter())
const app = await NestFactory.create(AppModule);
await app.listen(Number(process.env.PORT ?? 8000));
