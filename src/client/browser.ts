/**
 * The authorization code flow for a command-line program (RFC 8252): a
 * loopback server receives the IdP's redirect, the browser does the login
 * through the app's `/login`, and the code is exchanged at the app's
 * `/token`. As with py-oidc-auth, the app keeps the PKCE verifier in `state`
 * (the part after the last `|`; sealed by ts-oidc-auth) and the client posts
 * it back as `code_verifier`.
 */
import { once } from "node:events";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { WaitOptions } from "./device.ts";
import { AuthClientError } from "./errors.ts";
import { causeOf, type Endpoints, errorFromResponse, type Json, postForm } from "./server.ts";

export interface BrowserOptions extends WaitOptions {
  /** Opens the login URL; rejecting means "could not open it", and the URL is shown instead. */
  openBrowser: (url: string) => void | Promise<void>;
  /** Ports to try for the loopback server, in order; 0 means any free port. */
  redirectPorts: readonly number[];
  /** Host name in the redirect URI: what the app's and the IdP's allow-lists expect. */
  redirectHost: string;
  /** `prompt` sent to `/login` (py-oidc-auth's own default there is `none`, which needs an IdP session). */
  prompt: string;
}

interface Callback {
  code: string;
  state: string;
}

const CALLBACK_PATH = "/callback";

/** Runs the browser login; returns the token endpoint's answer. */
export async function browserLogin(endpoints: Endpoints, options: BrowserOptions): Promise<Json> {
  const loopback = await listenLoopback(options.redirectPorts);
  try {
    const redirectUri = `http://${options.redirectHost}:${loopback.port}${CALLBACK_PATH}`;
    const received = nextCallback(loopback.servers);
    const loginUrl = withQuery(endpoints.login, {
      redirect_uri: redirectUri,
      offline_access: "true",
      prompt: options.prompt,
    });
    const authorizationUrl = await startLogin(loginUrl, options.requestTimeoutMs);
    options.reporter.browserLogin(
      authorizationUrl,
      await tryOpen(options.openBrowser, authorizationUrl),
    );
    const { code, state } = await waitFor(received, options);
    // The app put `state` into the IdP URL we saw: a callback with another
    // state was not started by this login (login CSRF), so it is refused.
    if (state !== new URL(authorizationUrl).searchParams.get("state")) {
      throw new AuthClientError(
        "The login callback does not belong to this login (state mismatch).",
      );
    }
    return await postForm(
      endpoints.token,
      {
        grant_type: "authorization_code",
        code,
        redirect_uri: redirectUri,
        code_verifier: state.slice(state.lastIndexOf("|") + 1),
      },
      options.requestTimeoutMs,
    );
  } finally {
    for (const server of loopback.servers) {
      server.closeAllConnections();
      server.close();
    }
  }
}

/**
 * GETs the app's `/login` here rather than in the browser, so that a refusal
 * (say, a redirect URI the app does not allow) is reported at once instead of
 * on a browser page while the client waits. Returns the IdP URL it redirects to.
 */
async function startLogin(loginUrl: string, timeoutMs: number): Promise<string> {
  let response: Response;
  try {
    response = await fetch(loginUrl, {
      redirect: "manual",
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (error) {
    throw new AuthClientError(`Cannot reach ${new URL(loginUrl).origin}: ${causeOf(error)}`);
  }
  const location = response.headers.get("location");
  if (response.status >= 300 && response.status < 400 && location) {
    await response.body?.cancel();
    return new URL(location, loginUrl).href;
  }
  throw await errorFromResponse(new URL(loginUrl), response);
}

async function tryOpen(open: BrowserOptions["openBrowser"], url: string): Promise<boolean> {
  try {
    await open(url);
    return true;
  } catch {
    return false;
  }
}

async function waitFor(received: Promise<Callback>, options: WaitOptions): Promise<Callback> {
  const deadline = Date.now() + options.timeoutMs;
  options.reporter.waiting({ interval: 0, deadline });
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new AuthClientError("The browser login was not completed in time.")),
      options.timeoutMs,
    );
  });
  const aborted = new Promise<never>((_, reject) => {
    options.signal?.addEventListener("abort", () => reject(options.signal?.reason), { once: true });
  });
  try {
    return await Promise.race([received, timeout, aborted]);
  } finally {
    clearTimeout(timer);
    options.reporter.stopped();
  }
}

/**
 * Listens on 127.0.0.1 at the first free port of `ports`, and on [::1] at the
 * same port where IPv6 is there, so `localhost` works whichever address a
 * browser resolves it to. Never on a non-loopback address.
 */
async function listenLoopback(
  ports: readonly number[],
): Promise<{ port: number; servers: Server[] }> {
  for (const wanted of ports) {
    const v4 = createServer();
    if (!(await tryListen(v4, wanted, "127.0.0.1"))) continue;
    const port = (v4.address() as AddressInfo).port;
    const v6 = createServer();
    const servers = (await tryListen(v6, port, "::1")) ? [v4, v6] : [v4];
    return { port, servers };
  }
  throw new AuthClientError(
    `No free port for the login callback among ${ports.join(", ")}; close what uses them or choose others.`,
  );
}

async function tryListen(server: Server, port: number, host: string): Promise<boolean> {
  try {
    server.listen(port, host);
    await once(server, "listening");
    return true;
  } catch {
    return false;
  }
}

/** The first request to the callback path with a code (or an error) settles the promise. */
function nextCallback(servers: readonly Server[]): Promise<Callback> {
  return new Promise((resolve, reject) => {
    const handle = (req: IncomingMessage, res: ServerResponse) => {
      const url = new URL(req.url ?? "/", "http://loopback");
      if (url.pathname !== CALLBACK_PATH) return page(res, 404, "Not found.");
      const error = url.searchParams.get("error");
      const code = url.searchParams.get("code");
      const state = url.searchParams.get("state");
      if (error !== null) {
        page(res, 400, "The login failed. You can close this tab.");
        const description = url.searchParams.get("error_description");
        reject(new AuthClientError(`The login failed: ${description ?? error}`, { error }));
      } else if (code && state) {
        page(res, 200, "You are logged in. You can close this tab and return to the terminal.");
        resolve({ code, state });
      } else {
        page(res, 400, "This is not a login callback.");
      }
    };
    for (const server of servers) server.on("request", handle);
  });
}

function page(res: ServerResponse, status: number, message: string): void {
  res.writeHead(status, {
    "content-type": "text/html; charset=utf-8",
    "cache-control": "no-store",
    "content-security-policy": "default-src 'none'",
  });
  // Fixed messages only: nothing from the request is echoed into the page.
  res.end(`<!doctype html><meta charset="utf-8"><title>ts-oidc-auth</title><p>${message}</p>`);
}

function withQuery(url: URL, query: Record<string, string>): string {
  const result = new URL(url);
  for (const [name, value] of Object.entries(query)) result.searchParams.set(name, value);
  return result.href;
}
