/**
 * The demo's server-rendered page (docs/browser-sessions.md): the same IdP,
 * a second ExpressOIDCAuth in token mode with browser sessions, its
 * endpoints under /ssr. Beside the token page, whose own-origin login must
 * stay a token login, so the two do not share an auth instance.
 */
import express, { type Request, type Router } from "express";
import type { ExpressOIDCAuth } from "../src/adapters/express.ts";
import type { IDToken } from "../src/index.ts";

export const SSR = "/ssr";

export function ssrRoutes(auth: ExpressOIDCAuth): Router {
  const router = express.Router();
  router.use(auth.createAuthRouter({ prefix: SSR }));
  router.get(`${SSR}/`, auth.optional(), (req, res) => {
    if (req.token === undefined) {
      res.send(signedOut(req));
      return;
    }
    res.send(signedIn(req, req.token, "Who you are"));
  });
  // A protected page: without a session the browser goes to the login, which comes back here.
  router.get(`${SSR}/protected`, auth.optional(), async (req, res) => {
    if (req.token === undefined) {
      res.redirect(303, loginUrl(req));
      return;
    }
    const accessToken = (await req.authSession?.accessToken()) ?? "";
    res.send(
      signedIn(req, req.token, "Protected page", `access token of ${accessToken.length} chars`),
    );
  });
  return router;
}

/** The login that comes back to this page (docs/browser-sessions.md "The flow"). */
function loginUrl(req: Request): string {
  const query = new URLSearchParams({
    redirect_uri: `${origin(req)}${SSR}/auth/v2/callback`,
    return_to: req.originalUrl,
  });
  return `${SSR}/auth/v2/login?${query}`;
}

function logoutUrl(req: Request): string {
  const query = new URLSearchParams({ post_logout_redirect_uri: `${origin(req)}${SSR}/` });
  return `${SSR}/auth/v2/logout?${query}`;
}

function origin(req: Request): string {
  return `${req.protocol}://${req.get("host")}`;
}

function signedOut(req: Request): string {
  return page(
    "Not signed in",
    `<p>A server-rendered page: the login sets an encrypted session cookie, no token reaches the page.</p>
     <p class="actions"><a id="ssr-login" class="button" href="${html(loginUrl(req))}">Log in</a>
     <a id="ssr-protected" href="${SSR}/protected">Protected page</a></p>`,
  );
}

function signedIn(req: Request, token: IDToken, title: string, note = ""): string {
  const time = (seconds: unknown) => new Date(Number(seconds) * 1000).toISOString();
  return page(
    title,
    `<p>Signed in as <strong id="ssr-user">${html(token.preferred_username)}</strong>
       (${html(token.name ?? "")}).</p>
     <p>Access token issued <span id="ssr-iat">${time(token.iat)}</span>,
       expires <span id="ssr-exp">${time(token.exp)}</span>${note ? `; ${html(note)}` : ""}.
       The guard refreshes it behind the scenes when it is due.</p>
     <p class="actions"><a id="ssr-home" href="${SSR}/">Who you are</a>
       <a id="ssr-protected" href="${SSR}/protected">Protected page</a>
       <a id="ssr-logout" class="button secondary" href="${html(logoutUrl(req))}">Log out</a></p>`,
  );
}

function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${html(title)} · ts-oidc-auth demo</title>
<link rel="icon" href="/favicon.svg" type="image/svg+xml"><link rel="stylesheet" href="/style.css"></head>
<body><header><h1>ts-oidc-auth demo: server-rendered</h1>
<p>Browser sessions. The <a href="/">token page</a> shows the same IdP with bearer tokens.</p></header>
<main><section class="card"><h2 id="ssr-title">${html(title)}</h2>${body}</section></main></body></html>`;
}

/** Claims are text from the IdP: escaped before they go into HTML. */
function html(text: unknown): string {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
