/**
 * The layers of src/ (README "Development"): the core is the ground floor
 * and imports nothing above it: not the broker, the stores, the adapters,
 * the client, nor the composition in src/oidc-auth.ts.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";

const SRC = fileURLToPath(new URL("../src", import.meta.url));
const IMPORT = /(?:import|export)\s[^;]*?from\s+"(\.[^"]+)"|import\(\s*"(\.[^"]+)"\s*\)/g;

function sourceFiles(folder: string): string[] {
  return readdirSync(folder, { withFileTypes: true }).flatMap((entry) => {
    const path = join(folder, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith(".ts") ? [path] : [];
  });
}

/** The src-relative paths a file imports. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, "utf8");
  return [...text.matchAll(IMPORT)].map((match) =>
    relative(SRC, resolve(dirname(file), match[1] ?? match[2] ?? "")),
  );
}

describe("layout", () => {
  it("the core imports nothing but the core", () => {
    const core = join(SRC, "core");
    const upward = sourceFiles(core).flatMap((file) =>
      importsOf(file)
        .filter((target) => !target.startsWith("core/"))
        .map((target) => `${relative(SRC, file)} -> ${target}`),
    );
    assert.deepEqual(upward, []);
  });

  it("finds the imports it checks", () => {
    assert.ok(importsOf(join(SRC, "core", "auth-core.ts")).includes("core/endpoints/index.ts"));
  });
});
