import express, { type Request } from "express";
import { ExpressOIDCAuth } from "ts-oidc-auth/express";

const app = express();
const auth = new ExpressOIDCAuth({
  clientId: process.env.OIDC_CLIENT_ID ?? "my-client",
  clientSecret: process.env.OIDC_CLIENT_SECRET ?? "secret",
  discoveryUrl:
    process.env.OIDC_DISCOVERY_URL ??
    "https://idp.example.org/realms/demo/.well-known/openid-configuration",
  scopes: "myscope profile email",
  audience: process.env.OIDC_AUDIENCE ?? "my-aud",
  // The session cookie is sealed under a key derived from this (32+ random bytes).
  secret: process.env.SESSION_SECRET ?? "change-me-to-32-random-bytes-or-more!",
  // Logins that come back to this app keep the user in an encrypted session cookie.
  browserSessions: true,
});

// /auth/v2/login, /auth/v2/callback (sets the session, back to return_to), /auth/v2/logout, …
app.use(auth.createAuthRouter());

/** The login that comes back to this page, to the same host the browser used. */
function loginUrl(req: Request): string {
  const callback = `${req.protocol}://${req.get("host")}/auth/v2/callback`;
  const query = new URLSearchParams({ redirect_uri: callback, return_to: req.originalUrl });
  return `/auth/v2/login?${query}`;
}

// Claims are text from the IdP: escaped before they go into HTML.
const html = (text: unknown) => String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const page = (body: string) =>
  `<!doctype html><html><head><meta charset="utf-8"><title>SSR</title></head><body>${body}</body></html>`;

// Anyone may see the home page; a signed-in user is recognised from the session cookie.
app.get("/", auth.optional(), (req, res) => {
  if (req.token === undefined) {
    res.send(page(`<p>Not signed in.</p><a href="${html(loginUrl(req))}">Log in</a>`));
    return;
  }
  const name = html(req.token.preferred_username);
  res.send(
    page(
      `<p>Signed in as ${name}.</p><a href="/account">Account</a> <a href="/auth/v2/logout">Log out</a>`,
    ),
  );
});

// A protected page: without a session the browser goes to the login, which comes back here.
app.get("/account", auth.optional(), async (req, res) => {
  if (req.token === undefined) {
    res.redirect(303, loginUrl(req));
    return;
  }
  // A fresh access token for calling downstream APIs on the user's behalf.
  const accessToken = await req.authSession?.accessToken();
  res.send(
    page(
      `<h1>Account of ${html(req.token.preferred_username)}</h1>` +
        `<p>Subject ${html(req.token.sub)}, access token of ${accessToken?.length ?? 0} characters.</p>` +
        `<a href="/">Home</a> <a href="/auth/v2/logout">Log out</a>`,
    ),
  );
});

app.listen(Number(process.env.PORT ?? 8000));
