/**
 * GET /.well-known/oauth-protected-resource below the prefix: the RFC 9728
 * §3.2 metadata of the app's protected routes, in every mode (see
 * resource-metadata.ts for the resource identifier and where this lives).
 */
import { jsonResponse } from "../http.ts";
import type { EndpointPaths } from "../token-mode.ts";
import type { Endpoint } from "./context.ts";

export const resourceMetadata =
  (paths: EndpointPaths): Endpoint =>
  async (context, request) =>
    jsonResponse(
      200,
      await context.resource.document(
        () => request.origin,
        context.idp,
        context.mode.publication,
        paths,
      ),
    );
