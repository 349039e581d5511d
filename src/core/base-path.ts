/**
 * Where the auth routes are served: the router prefix, and below `proxy`
 * the public URL it makes, which is broker mode's default issuer (README
 * "Broker mode"). The prefix is fixed once, by the first router created (or
 * by the first use of the public URL): a token's `iss` must not depend on
 * which router was mounted last, so a second router with another prefix is
 * refused instead of moving the issuer.
 */
import { ConfigurationError } from "./options.ts";

export class BasePath {
  private fixed: string | undefined;

  constructor(private readonly proxy: URL | undefined) {}

  /** A router's prefix: the first one fixes it; any other one afterwards is a configuration error. */
  use(prefix: string | undefined): string {
    const wanted = checkedPrefix(prefix ?? "");
    this.fixed ??= wanted;
    if (this.fixed !== wanted) {
      throw new ConfigurationError(
        "prefix",
        `this auth object serves its endpoints below "${this.fixed || "/"}" already; create another auth object for "${wanted || "/"}"`,
      );
    }
    return wanted;
  }

  /** The router prefix (`""` for none), fixed from now on. */
  get prefix(): string {
    this.fixed ??= "";
    return this.fixed;
  }

  /** The public URL of the auth routes (`proxy` joined with the prefix), or undefined without `proxy`. */
  get publicUrl(): string | undefined {
    this.fixed ??= "";
    if (this.proxy === undefined) return undefined;
    const base = this.proxy.href.endsWith("/") ? this.proxy : new URL(`${this.proxy.href}/`);
    return new URL(this.fixed.replace(/^\//, ""), base).href.replace(/\/$/, "");
  }
}

function checkedPrefix(prefix: string): string {
  if (prefix !== "" && !prefix.startsWith("/")) {
    throw new ConfigurationError("prefix", `expected a path starting with "/", e.g. "/${prefix}"`);
  }
  return prefix.replace(/\/+$/, "");
}
