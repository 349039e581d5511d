/**
 * A programmatic "browser" for tests: a cookie jar on top of `fetch` with manual redirects,
 * which walks through the dev IdP's HTML forms. One instance is one browser: its IdP session
 * persists, so a second `authorize` with the same instance is single sign-on (the login form,
 * and so the credentials, are skipped). Use a new instance per user.
 *
 * The HTML parsing is deliberately minimal (regular expressions): it only has to understand the
 * dev IdP's own pages.
 */

export class IdpUserAgentError extends Error {
  override readonly name = "IdpUserAgentError";
}

interface Cookie {
  name: string;
  value: string;
  host: string;
  path: string;
}

interface HtmlForm {
  action: URL;
  /** Every input with a name, in document order (hidden ones and pre-filled ones). */
  fields: Map<string, string>;
  /** Names of the non-hidden inputs (what a user would type into). */
  visible: Set<string>;
}

interface HtmlPage {
  url: URL;
  html: string;
  form: HtmlForm | undefined;
}

/** What to do with a page: post a form, or stop (the flow ended on this page). */
type Step = { post: URL; fields: Map<string, string> } | "stop";

type Outcome = { kind: "left"; url: URL } | { kind: "page"; page: HtmlPage };

const MAX_STEPS = 25;

export class IdpUserAgent {
  readonly #cookies: Cookie[] = [];

  /**
   * Follows the authorization URL through login and consent until the IdP redirects outside
   * itself (to the client's redirect_uri) and returns that URL, with `code` and `state` or with
   * `error`. Does not fetch it. Throws IdpUserAgentError on a rejected login or an IdP error page.
   */
  async authorize(
    authorizationUrl: string | URL,
    username: string,
    password: string,
  ): Promise<URL> {
    let loggedIn = false;
    const outcome = await this.#drive(new URL(authorizationUrl), (page) => {
      const form = requireForm(page);
      if (!form.visible.has("password")) return submit(form);
      if (loggedIn)
        throw new IdpUserAgentError(`login as ${username} failed: ${pageMessage(page)}`);
      loggedIn = true;
      return submit(form, { username, password });
    });
    return leftIdp(outcome);
  }

  /** Starts an authorization, then presses "Cancel" on the login form; returns the redirect (error=access_denied). */
  async cancelLogin(authorizationUrl: string | URL): Promise<URL> {
    const outcome = await this.#drive(new URL(authorizationUrl), (page) => {
      const form = requireForm(page);
      return form.visible.has("password") ? submit(form, { abort: "1" }) : submit(form);
    });
    return leftIdp(outcome);
  }

  /** Approves a device authorization: opens verification_uri_complete, confirms the code, logs in. */
  async approveDevice(
    verificationUriComplete: string,
    username: string,
    password: string,
  ): Promise<void> {
    const page = await this.#device(verificationUriComplete, username, password, "approve");
    if (!/id="device-success"/.test(page.html)) {
      throw new IdpUserAgentError(`device approval did not succeed: ${pageMessage(page)}`);
    }
  }

  /** Denies a device authorization: the device then gets `access_denied`. No login is needed for that. */
  async denyDevice(
    verificationUriComplete: string,
    username: string,
    password: string,
  ): Promise<void> {
    const page = await this.#device(verificationUriComplete, username, password, "deny");
    if (!/data-error="AbortedError"/.test(page.html)) {
      throw new IdpUserAgentError(`device denial did not succeed: ${pageMessage(page)}`);
    }
  }

  /**
   * Follows an end-session URL, confirming the logout, until the IdP redirects outside itself
   * (the post_logout_redirect_uri) and returns that URL, or the URL of the IdP's own final page.
   */
  async endSession(url: string | URL): Promise<URL> {
    const outcome = await this.#drive(new URL(url), (page) =>
      page.form ? submit(page.form) : "stop",
    );
    return outcome.kind === "left" ? outcome.url : outcome.page.url;
  }

  async #device(
    uri: string,
    username: string,
    password: string,
    decision: "approve" | "deny",
  ): Promise<HtmlPage> {
    const start = new URL(uri);
    const userCode = start.searchParams.get("user_code") ?? undefined;
    let loggedIn = false;
    const outcome = await this.#drive(start, (page) => {
      const { form } = page;
      if (!form || /id="device-error"/.test(page.html)) return "stop";
      if (form.fields.get("confirm") === "yes") {
        if (decision === "approve") return submit(form);
        const fields = new Map(form.fields);
        fields.delete("confirm");
        return submit({ ...form, fields }, { abort: "yes" });
      }
      if (form.visible.has("password")) {
        if (loggedIn)
          throw new IdpUserAgentError(`login as ${username} failed: ${pageMessage(page)}`);
        loggedIn = true;
        return submit(form, { username, password });
      }
      if (form.visible.has("user_code") && !form.fields.get("user_code")) {
        if (!userCode)
          throw new IdpUserAgentError(
            "the IdP asks for the user code: pass verification_uri_complete",
          );
        return submit(form, { user_code: userCode });
      }
      return submit(form);
    });
    if (outcome.kind === "left")
      throw new IdpUserAgentError(`device flow unexpectedly left the IdP to ${outcome.url.href}`);
    return outcome.page;
  }

  /** Requests `start`, then follows redirects and posts forms as `decide` says, within the IdP's origin. */
  async #drive(start: URL, decide: (page: HtmlPage) => Step): Promise<Outcome> {
    const origin = start.origin;
    let request: { url: URL; fields?: Map<string, string> } = { url: start };
    for (let step = 0; step < MAX_STEPS; step++) {
      const response = await this.#fetch(request.url, request.fields);
      const location = response.headers.get("location");
      if (response.status >= 300 && response.status < 400 && location) {
        await response.body?.cancel();
        const next = new URL(location, request.url);
        if (next.origin !== origin) return { kind: "left", url: next };
        request = { url: next };
        continue;
      }
      const page = parsePage(request.url, await response.text());
      if (response.status !== 200) {
        throw new IdpUserAgentError(
          `IdP answered ${response.status} at ${request.url.pathname}: ${pageMessage(page)}`,
        );
      }
      const next = decide(page);
      if (next === "stop") return { kind: "page", page };
      if (next.post.origin !== origin)
        throw new IdpUserAgentError(`form posts outside the IdP: ${next.post.href}`);
      request = { url: next.post, fields: next.fields };
    }
    throw new IdpUserAgentError(
      `more than ${MAX_STEPS} steps without reaching the end of the flow`,
    );
  }

  async #fetch(url: URL, fields: Map<string, string> | undefined): Promise<Response> {
    const headers = new Headers({ accept: "text/html" });
    const cookie = this.#cookieHeader(url);
    if (cookie) headers.set("cookie", cookie);
    const init: RequestInit = { redirect: "manual", headers };
    if (fields) {
      init.method = "POST";
      init.body = new URLSearchParams([...fields]);
    }
    const response = await fetch(url, init);
    for (const header of response.headers.getSetCookie()) this.#storeCookie(url, header);
    return response;
  }

  #cookieHeader(url: URL): string {
    return this.#cookies
      .filter((cookie) => cookie.host === url.host && pathMatches(url.pathname, cookie.path))
      .map((cookie) => `${cookie.name}=${cookie.value}`)
      .join("; ");
  }

  #storeCookie(url: URL, header: string): void {
    const [pair = "", ...attributes] = header.split(";");
    const eq = pair.indexOf("=");
    if (eq <= 0) return;
    const cookie: Cookie = {
      name: pair.slice(0, eq).trim(),
      value: pair.slice(eq + 1).trim(),
      host: url.host,
      path: defaultPath(url),
    };
    let expired = false;
    for (const attribute of attributes) {
      const [key = "", value = ""] = attribute.split("=", 2).map((part) => part.trim());
      const name = key.toLowerCase();
      if (name === "path" && value.startsWith("/")) cookie.path = value;
      if (name === "max-age" && Number(value) <= 0) expired = true;
      if (name === "expires" && Date.parse(value) <= Date.now()) expired = true;
    }
    const index = this.#cookies.findIndex(
      (old) => old.name === cookie.name && old.host === cookie.host && old.path === cookie.path,
    );
    if (index >= 0) this.#cookies.splice(index, 1);
    if (!expired) this.#cookies.push(cookie);
  }
}

function submit(form: HtmlForm, values: Readonly<Record<string, string>> = {}): Step {
  const fields = new Map(form.fields);
  for (const [name, value] of Object.entries(values)) fields.set(name, value);
  return { post: form.action, fields };
}

function requireForm(page: HtmlPage): HtmlForm {
  if (!page.form)
    throw new IdpUserAgentError(
      `unexpected IdP page at ${page.url.pathname}: ${pageMessage(page)}`,
    );
  return page.form;
}

function leftIdp(outcome: Outcome): URL {
  if (outcome.kind === "left") return outcome.url;
  throw new IdpUserAgentError(`flow ended on an IdP page: ${pageMessage(outcome.page)}`);
}

function parsePage(url: URL, html: string): HtmlPage {
  const match = /<form\b([^>]*)>([\s\S]*?)<\/form>/i.exec(html);
  if (!match) return { url, html, form: undefined };
  const attributes = parseAttributes(match[1] ?? "");
  const fields = new Map<string, string>();
  const visible = new Set<string>();
  for (const input of (match[2] ?? "").matchAll(/<input\b([^>]*)>/gi)) {
    const { name, value = "", type = "text" } = parseAttributes(input[1] ?? "");
    if (!name) continue;
    fields.set(name, value);
    if (type.toLowerCase() !== "hidden") visible.add(name);
  }
  return { url, html, form: { action: new URL(attributes.action ?? "", url), fields, visible } };
}

function parseAttributes(source: string): Record<string, string> {
  const attributes: Record<string, string> = {};
  for (const [, name = "", value = ""] of source.matchAll(
    /([a-zA-Z_:][-\w:.]*)\s*=\s*"([^"]*)"/g,
  )) {
    attributes[name.toLowerCase()] = decodeEntities(value);
  }
  return attributes;
}

function decodeEntities(value: string): string {
  return value.replace(/&(amp|lt|gt|quot|#39|#x27);/g, (_entity, code: string) => {
    const map: Record<string, string> = {
      amp: "&",
      lt: "<",
      gt: ">",
      quot: '"',
      "#39": "'",
      "#x27": "'",
    };
    return map[code] ?? "";
  });
}

/** The page's text, for error messages (an error paragraph if there is one). */
function pageMessage(page: HtmlPage): string {
  const text = page.html
    .replace(/<(script|style|title)\b[\s\S]*?<\/\1>/gi, " ")
    .replace(/<[^>]+>/g, " ")
    .replace(/\s+/g, " ")
    .trim();
  return decodeEntities(text).slice(0, 300);
}

function pathMatches(requestPath: string, cookiePath: string): boolean {
  if (requestPath === cookiePath) return true;
  if (!requestPath.startsWith(cookiePath)) return false;
  return cookiePath.endsWith("/") || requestPath[cookiePath.length] === "/";
}

/** RFC 6265 default-path: the request path up to its last "/". */
function defaultPath(url: URL): string {
  const last = url.pathname.lastIndexOf("/");
  return last <= 0 ? "/" : url.pathname.slice(0, last);
}
