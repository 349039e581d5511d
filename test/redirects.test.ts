/**
 * The redirect allow-list (src/core/redirects.ts, issue 16): `allowed()`
 * answers the normalised URL that was checked, so that callers redirect to
 * exactly what passed and never to a raw spelling of it (upper-case host,
 * dot segments, an embedded tab) that a browser or proxy might read
 * differently.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { RedirectPolicy } from "../src/core/redirects.ts";

describe("RedirectPolicy", () => {
  const policy = new RedirectPolicy([
    "https://allowed.example.com/cb",
    "http://127.0.0.1/callback",
    "http://localhost/native",
  ]);

  it("answers the normalised href of an allowed URI, for every spelling of it", () => {
    const spellings: Record<string, string> = {
      "as listed": "https://allowed.example.com/cb",
      "upper-case scheme and host": "HTTPS://ALLOWED.EXAMPLE.COM/cb",
      "dot segments": "https://allowed.example.com/x/../cb",
      "an encoded dot segment": "https://allowed.example.com/x/%2e%2e/cb",
      "an embedded tab": "https://allowed.example.com/c\tb",
      "an embedded newline": "https://allowed.example.com/c\nb",
      "leading and trailing spaces": "  https://allowed.example.com/cb ",
      "the default port": "https://allowed.example.com:443/cb",
      "a backslash for the slash": "https:\\\\allowed.example.com\\cb",
    };
    for (const [name, uri] of Object.entries(spellings)) {
      assert.equal(policy.allowed(uri), "https://allowed.example.com/cb", name);
      assert.equal(policy.allows(uri), true, name);
    }
  });

  it("answers the normalised href of a loopback URI on any port", () => {
    assert.equal(
      policy.allowed("http://127.0.0.1:51234/callback"),
      "http://127.0.0.1:51234/callback",
    );
    assert.equal(policy.allowed("HTTP://LOCALHOST:8080/native"), "http://localhost:8080/native");
    assert.equal(
      policy.allowed("http://127.0.0.1:8080/./callback"),
      "http://127.0.0.1:8080/callback",
    );
  });

  it("answers undefined for what is not allowed", () => {
    for (const uri of [
      "https://allowed.example.com/cb/",
      "https://allowed.example.com/CB",
      "https://allowed.example.com/cb?x=1",
      "https://allowed.example.com/cb#fragment",
      "https://user@allowed.example.com/cb",
      "https://allowed.example.com.evil.org/cb",
      "http://allowed.example.com/cb",
      "javascript:alert(1)",
      "/cb",
      "not a url",
      "http://127.0.0.1:8080/other",
    ]) {
      assert.equal(policy.allowed(uri), undefined, uri);
      assert.equal(policy.allows(uri), false, uri);
    }
  });

  it("without an allow-list, answers the normalised href of any plain http(s) URI", () => {
    const open = new RedirectPolicy(undefined);
    assert.equal(open.restricted, false);
    assert.equal(open.allowed("HTTPS://Anywhere.Example/a/../b\t"), "https://anywhere.example/b");
    assert.equal(open.allowed("ftp://anywhere.example/"), undefined);
    assert.equal(open.allowed("https://u:p@anywhere.example/"), undefined);
  });

  it("matches allow-list entries written in any spelling", () => {
    const loose = new RedirectPolicy(["HTTPS://App.Example.ORG/a/../cb"]);
    assert.equal(loose.allowed("https://app.example.org/cb"), "https://app.example.org/cb");
  });
});
