/**
 * A small HTTP client for tests that records every response body and keeps
 * redirects unfollowed, so tests can inspect `Location` and the leak check
 * can read everything the server ever answered.
 */
export interface Reply {
  status: number;
  headers: Headers;
  text: string;
  json: Record<string, unknown>;
}

export class TestClient {
  /** Every response body received, for the leak check. */
  readonly bodies: string[] = [];

  constructor(readonly baseUrl: string) {}

  get(path: string, headers: Record<string, string> = {}): Promise<Reply> {
    return this.send(path, { headers });
  }

  /** POSTs a form (fields, or a raw body with its own content type). */
  post(
    path: string,
    body: Record<string, string> | string | URLSearchParams | Uint8Array<ArrayBuffer> = {},
    contentType?: string,
  ) {
    const encoded =
      typeof body === "string" || body instanceof URLSearchParams || body instanceof Uint8Array
        ? body
        : new URLSearchParams(body);
    return this.send(path, {
      method: "POST",
      body: encoded,
      headers: { "content-type": contentType ?? "application/x-www-form-urlencoded" },
    });
  }

  /** A request without a body, with any method and headers. */
  request(path: string, method: string, headers: Record<string, string> = {}): Promise<Reply> {
    return this.send(path, { method, headers });
  }

  private async send(path: string, init: RequestInit): Promise<Reply> {
    const response = await fetch(new URL(path, this.baseUrl), { ...init, redirect: "manual" });
    const text = await response.text();
    this.bodies.push(text);
    let json: Record<string, unknown> = {};
    if (response.headers.get("content-type")?.includes("json")) json = JSON.parse(text);
    return { status: response.status, headers: response.headers, text, json };
  }
}

/** A logger that keeps every line (its fields as JSON), for the leak check. */
export function capturingLogger(lines: string[]) {
  const keep = (level: string) => (message: string, fields?: Record<string, unknown>) =>
    lines.push(`${level}: ${message}${fields === undefined ? "" : ` ${JSON.stringify(fields)}`}`);
  return { debug: keep("debug"), info: keep("info"), warn: keep("warn"), error: keep("error") };
}
