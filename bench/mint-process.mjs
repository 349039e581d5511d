/**
 * Token source of bench/memory.ts, in a process of its own so that its
 * memory is not counted with the guard's: writes `count` distinct EdDSA
 * tokens (a distinct `jti` each), one a line, to stdout, at the pace the
 * reader takes them. Plain JavaScript, to start quickly.
 *
 *   node bench/mint-process.mjs <count> <issuer> <audience>   (PKCS#8 PEM key on stdin)
 */
import { createPrivateKey, sign } from "node:crypto";

const [count, issuer, audience] = [Number(process.argv[2]), process.argv[3], process.argv[4]];
let pem = "";
for await (const chunk of process.stdin) pem += chunk;
const key = createPrivateKey(pem);
const b64 = (value) => Buffer.from(value).toString("base64url");
const header = b64(JSON.stringify({ alg: "EdDSA", kid: "bench", typ: "JWT" }));
const now = Math.floor(Date.now() / 1000);

for (let sent = 0; sent < count; ) {
  const lines = [];
  for (let i = 0; i < 1000 && sent < count; i++, sent++) {
    const payload = b64(
      JSON.stringify({
        iss: issuer,
        aud: audience,
        sub: `user-${sent % 50_000}`,
        scope: "openid profile",
        roles: ["user"],
        iat: now,
        exp: now + 3600,
        jti: `m-${sent}`,
      }),
    );
    const input = `${header}.${payload}`;
    lines.push(`${input}.${b64(sign(null, Buffer.from(input), key))}\n`);
  }
  if (!process.stdout.write(lines.join(""))) {
    await new Promise((resolve) => process.stdout.once("drain", resolve));
  }
}
