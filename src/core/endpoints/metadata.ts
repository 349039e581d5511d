/**
 * GET /.well-known/openid-configuration and
 * /.well-known/oauth-authorization-server: the token mode's metadata
 * (OpenID Connect Discovery §3, RFC 8414 §2), broker mode only, so standard
 * verifiers find its issuer, keys and token endpoint.
 */
import { jsonResponse } from "../http.ts";
import type { EndpointPaths, Publication } from "../token-mode.ts";
import type { Endpoint } from "./context.ts";

export const metadata = (publication: Publication, paths: EndpointPaths): Endpoint => {
  const document = publication.metadata(paths);
  return async () => jsonResponse(200, document);
};
