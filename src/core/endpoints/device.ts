/** POST /auth/v2/device: starts the device authorization flow at the IdP (RFC 8628 §3.1-3.2). */
import { jsonResponse } from "../http.ts";
import { type Endpoint, requestedScope } from "./context.ts";

export const deviceFlow: Endpoint = async ({ idp, options }) => {
  const started = await idp.startDevice(requestedScope(options, undefined, options.offlineAccess));
  return jsonResponse(200, {
    device_code: started.device_code,
    user_code: started.user_code,
    verification_uri: started.verification_uri,
    verification_uri_complete: started.verification_uri_complete ?? started.verification_uri,
    expires_in: started.expires_in,
    // RFC 8628 §3.2: clients wait 5 seconds when the IdP names no interval.
    interval: started.interval ?? 5,
  });
};
