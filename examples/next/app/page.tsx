import { cookies, headers } from "next/headers";
import { auth } from "@/lib/auth";

// The home page: anyone may see it; a signed-in user is recognised from the session cookie.
export default async function Home() {
  const user = await auth.currentUser({ cookies: await cookies(), headers: await headers() });
  if (!user) {
    return (
      <main>
        <p>Not signed in.</p>
        <a href="/dashboard">Dashboard (log in)</a>
      </main>
    );
  }
  return (
    <main>
      <p>{`Signed in as ${user.token.preferred_username}.`}</p>
      <a href="/dashboard">Dashboard</a> <a href="/api/auth/v2/logout">Log out</a>
    </main>
  );
}
