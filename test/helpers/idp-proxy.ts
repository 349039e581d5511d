/**
 * A loopback HTTP proxy in front of the dev IdP whose discovery document
 * points the token endpoint at itself, so a test can count the refreshes
 * that reach the IdP and hold them: `hold` keeps refresh requests waiting
 * without forwarding them (the IdP never sees them) until `release()`;
 * `swallow` forwards them and never answers (the IdP rotated, the answer
 * is lost).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export type RefreshMode = "pass" | "hold" | "swallow";

export class IdpProxy {
  /** Refresh requests forwarded to the IdP. */
  refreshCalls = 0;
  mode: RefreshMode = "pass";
  private readonly server: Server;
  private readonly waiting: Array<() => void> = [];

  private constructor(private readonly issuer: string) {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch(() => res.destroy());
    });
  }

  static async start(issuer: string): Promise<IdpProxy> {
    const proxy = new IdpProxy(issuer);
    await new Promise<void>((resolve) => proxy.server.listen(0, "127.0.0.1", resolve));
    return proxy;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  get discoveryUrl(): string {
    return `${this.url}/.well-known/openid-configuration`;
  }

  /** Refresh requests being held right now. */
  get held(): number {
    return this.waiting.length;
  }

  /** Forwards the held requests (and answers them), and stops holding. */
  release(): void {
    this.mode = "pass";
    for (const forward of this.waiting.splice(0)) forward();
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const isRefresh = req.url === "/token" && body.toString().includes("grant_type=refresh_token");
    if (isRefresh && this.mode === "hold") {
      await new Promise<void>((resolve) => {
        this.waiting.push(resolve);
        // A caller that went away (killed) is no longer held.
        res.once("close", () => {
          const index = this.waiting.indexOf(resolve);
          if (index >= 0) this.waiting.splice(index, 1);
        });
      });
      if (res.destroyed) return;
    }
    if (isRefresh) this.refreshCalls += 1;
    const swallow = isRefresh && this.mode === "swallow";
    const upstream = await fetch(`${this.issuer}${req.url}`, {
      method: req.method ?? "GET",
      headers: {
        "content-type": req.headers["content-type"] ?? "",
        authorization: req.headers.authorization ?? "",
      },
      ...(req.method === "POST" ? { body } : {}),
    });
    let text = await upstream.text();
    if (swallow) return; // the IdP answered; the caller never hears it
    if (req.url === "/.well-known/openid-configuration") {
      const metadata = JSON.parse(text);
      metadata.token_endpoint = `${this.url}/token`;
      text = JSON.stringify(metadata);
    }
    res.writeHead(upstream.status, {
      "content-type": upstream.headers.get("content-type") ?? "application/json",
    });
    res.end(text);
  }
}
