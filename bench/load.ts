/**
 * The load generator, a process of its own (pinned to the other core):
 * reads `{ url, tokens, seconds, warmupSeconds, connections }` as JSON on
 * stdin, warms the server up, measures with autocannon and prints
 * `{ rps, p50, p99, non2xx, errors }` (latencies in ms) as JSON.
 * The tokens are sent in turn, one `Authorization` header per request.
 */
import autocannon from "autocannon";

interface LoadSpec {
  url: string;
  tokens: string[];
  seconds: number;
  warmupSeconds: number;
  connections: number;
}

async function readStdin(): Promise<string> {
  let text = "";
  for await (const chunk of process.stdin) text += chunk;
  return text;
}

function once(spec: LoadSpec, seconds: number) {
  // One prepared request per token: autocannon cycles through them without rebuilding any.
  const requests = spec.tokens.map((token) => ({
    method: "GET" as const,
    path: "/hello",
    headers: { authorization: `Bearer ${token}` },
  }));
  return autocannon({
    url: spec.url,
    connections: spec.connections,
    duration: seconds,
    requests,
  });
}

const spec = JSON.parse(await readStdin()) as LoadSpec;
if (spec.warmupSeconds > 0) await once(spec, spec.warmupSeconds);
const result = await once(spec, spec.seconds);
process.stdout.write(
  JSON.stringify({
    rps: result.requests.total / spec.seconds,
    p50: result.latency.p50,
    p99: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
  }),
);
