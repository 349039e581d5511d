import "reflect-metadata";
import { Controller, Get, Module } from "@nestjs/common";
import { NestFactory } from "@nestjs/core";
import {
  type IDToken,
  OIDCAuthModule,
  OptionalAuth,
  RequireAuth,
  Token,
} from "ts-oidc-auth/nestjs";

// Your own routes beside the auth endpoints, under the same prefix.
@Controller("api/auth/v2")
class AuthPortsController {
  @Get("auth-ports")
  ports() {
    return { valid_ports: [8080, 8443] };
  }
}

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

  // Scopes and claims: every listed scope, and one accepted value per claim path.
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
  ],
  controllers: [AuthPortsController, MeController],
})
class AppModule {}

// Express platform; for Fastify: NestFactory.create(AppModule, new FastifyAdapter())
const app = await NestFactory.create(AppModule);
await app.listen(Number(process.env.PORT ?? 8000));
