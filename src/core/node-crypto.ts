/**
 * `node:crypto`, loaded lazily where the runtime has it, for the fast paths
 * of the hot path (the token cache's hash, the signature checks of
 * fast-verify.ts). The core never needs it: until it is loaded, and on
 * runtimes without it, everything runs on Web Crypto and jose. The specifier is not a literal, so
 * bundlers for other runtimes do not try to resolve it.
 */
type NodeCrypto = typeof import("node:crypto");

let loaded: NodeCrypto | undefined;
let loading: Promise<void> | undefined;

interface RuntimeGlobals {
  process?: { versions?: { node?: string }; release?: { name?: string } };
  Bun?: unknown;
  Deno?: unknown;
}

/** True on Node.js itself (not on Bun or Deno, which also offer `node:crypto`). */
export function isNodeJs(): boolean {
  const runtime = globalThis as RuntimeGlobals;
  return (
    runtime.process?.release?.name === "node" &&
    runtime.Bun === undefined &&
    runtime.Deno === undefined
  );
}

/** Starts loading `node:crypto` if the runtime offers it (idempotent). */
export function loadNodeCrypto(): void {
  const runtime = globalThis as RuntimeGlobals;
  if (loading !== undefined || runtime.process?.versions?.node === undefined) return;
  const specifier = "node:crypto";
  loading = (import(specifier) as Promise<NodeCrypto>).then(
    (module) => {
      loaded = module;
    },
    () => {
      // No node:crypto after all: Web Crypto it is.
    },
  );
}

/** `node:crypto` once loaded; undefined before that and where there is none. */
export function nodeCrypto(): NodeCrypto | undefined {
  return loaded;
}

/** Waits for the load started by `loadNodeCrypto` (for tests). */
export async function nodeCryptoLoaded(): Promise<NodeCrypto | undefined> {
  loadNodeCrypto();
  await loading;
  return loaded;
}
