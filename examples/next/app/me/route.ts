import { auth } from "@/lib/auth";

// Protected route handlers get the validated token's claims after the request;
// auth.required({ scopes, claims }) and auth.optional() as in the other adapters.
export const GET = auth.required()(async (_request, token) => Response.json({ sub: token.sub }));
