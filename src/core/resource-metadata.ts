/**
 * OAuth 2.0 Protected Resource Metadata (RFC 9728, README "Protected
 * resource metadata"): the document that tells a client which authorization
 * server issues tokens for this app's protected routes, and the
 * `resource_metadata` parameter that points 401 challenges at it (§5.1).
 *
 * The resource identifier is `resource` when configured, else the public
 * URL of the auth routes: `proxy` joined with the router prefix, or, without
 * `proxy`, the request's origin joined with it. The document is served below
 * the prefix; with an empty prefix that is exactly where §3.1 puts it for
 * that identifier.
 */
import type { BasePath } from "./base-path.ts";
import type { IdentityProvider } from "./idp.ts";
import type { ResolvedOptions } from "./options.ts";
import type { EndpointPaths, Publication } from "./token-mode.ts";

/** RFC 9728 §3: the well-known suffix, below the router prefix. */
export const RESOURCE_METADATA_PATH = "/.well-known/oauth-protected-resource";

/** An origin as adapters give it: scheme, host and optional port, nothing a header value could break on. */
const ORIGIN = /^https?:\/\/[A-Za-z0-9.\-[\]:]+$/;

/** The request's origin, computed only when needed (`https://app.example.org`). */
export type RequestOrigin = () => string | undefined;

export class ProtectedResource {
  /** Where a router serves the document, below the prefix; until one does, challenges name no URL that would 404. */
  private servedAt: string | undefined;

  constructor(
    private readonly options: ResolvedOptions,
    private readonly basePath: BasePath,
  ) {}

  /** Where the auth routes are served, publicly: `proxy` + prefix, else origin + prefix. */
  private base(origin: RequestOrigin | undefined): string | undefined {
    const fromProxy = this.basePath.publicUrl;
    if (fromProxy !== undefined) return fromProxy;
    const requested = origin?.();
    if (requested !== undefined && ORIGIN.test(requested))
      return `${requested}${this.basePath.prefix}`;
    if (this.options.resource === undefined) return undefined;
    return `${new URL(this.options.resource).origin}${this.basePath.prefix}`;
  }

  /** The resource identifier (RFC 9728 §1.2). */
  identifier(origin: RequestOrigin | undefined): string | undefined {
    return this.options.resource ?? this.base(origin);
  }

  /** Notes that a router serves the document at `path` below the prefix. */
  markServed(path: string): void {
    this.servedAt = path;
  }

  /** The URL of the metadata document, for the `resource_metadata` challenge parameter. */
  metadataUrl(origin: RequestOrigin | undefined): string | undefined {
    if (this.servedAt === undefined) return undefined;
    const base = this.base(origin);
    return base === undefined ? undefined : `${base}${this.servedAt}`;
  }

  /**
   * RFC 9728 §2: the IdP is the authorization server, or in broker mode the
   * broker (its issuer and JWKS, as its own metadata names them).
   */
  async document(
    origin: RequestOrigin,
    idp: IdentityProvider,
    publication: Publication | undefined,
    paths: EndpointPaths,
  ): Promise<Record<string, unknown>> {
    const broker = publication?.metadata(paths);
    return {
      resource: this.identifier(origin),
      authorization_servers: [broker === undefined ? await idp.issuer() : broker.issuer],
      ...(broker?.jwks_uri === undefined ? {} : { jwks_uri: broker.jwks_uri }),
      scopes_supported: [...new Set(["openid", ...this.options.scopes])],
      // RFC 6750 §2.1 only: tokens in a form body or the query are not read.
      bearer_methods_supported: ["header"],
    };
  }
}

/** RFC 9728 §5.1: a 401's challenge with the `resource_metadata` parameter added. */
export function withResourceMetadata(challenge: string, url: string | undefined): string {
  if (url === undefined) return challenge;
  const parameter = `resource_metadata="${url}"`;
  return challenge === "Bearer" ? `Bearer ${parameter}` : `${challenge}, ${parameter}`;
}
