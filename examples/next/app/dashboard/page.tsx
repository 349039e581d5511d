import { cookies, headers } from "next/headers";
import { redirect } from "next/navigation";
import { auth } from "@/lib/auth";

// A protected page (a Server Component): the session cookie's user, else the login that comes back here.
export default async function Dashboard() {
  const requestHeaders = await headers();
  const user = await auth.currentUser({ cookies: await cookies(), headers: requestHeaders });
  if (!user) {
    const origin = process.env.APP_ORIGIN ?? `http://${requestHeaders.get("host")}`;
    redirect(auth.loginUrl(`${origin}/dashboard`, { prefix: "/api" }));
  }
  return (
    <main>
      <h1>{`Dashboard of ${user.token.preferred_username}`}</h1>
      <p>{`Subject ${user.token.sub}`}</p>
      {/* A plain link: logout is a navigation, which ends at the IdP's end-session page. */}
      <a href="/api/auth/v2/logout">Log out</a>
    </main>
  );
}
