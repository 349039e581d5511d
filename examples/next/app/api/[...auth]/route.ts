import { auth } from "@/lib/auth";

// The auth endpoints under /api/auth/v2/…: the prefix is this catch-all's folder.
export const { GET, POST } = auth.routeHandlers({ prefix: "/api" });
