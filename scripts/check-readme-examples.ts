/**
 * The README's code blocks marked `<!-- example: examples/<file> -->` must be
 * the text of that file, and every file under examples/ must have a block:
 * the examples are compiled and run in CI, so the README cannot drift.
 * Run directly (`npx tsx scripts/check-readme-examples.ts`) or from
 * test/examples.test.ts.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const MARKER = /^<!-- example: (\S+) -->\n```\w*\n([\s\S]*?)^```$/gm;

/** The problems found; none when the README and examples/ agree. */
export function checkReadmeExamples(root = ROOT): string[] {
  const readme = readFileSync(join(root, "README.md"), "utf8");
  const problems: string[] = [];
  const shown = new Set<string>();
  for (const [, file = "", block = ""] of readme.matchAll(MARKER)) {
    shown.add(file);
    let text: string;
    try {
      text = readFileSync(join(root, file), "utf8");
    } catch {
      problems.push(`README shows ${file}, which does not exist`);
      continue;
    }
    const difference = firstDifference(block, text);
    if (difference !== undefined) problems.push(`README's ${file} differs: ${difference}`);
  }
  for (const file of exampleFiles(join(root, "examples"), root)) {
    if (!shown.has(file)) problems.push(`${file} has no <!-- example: ${file} --> block in README`);
  }
  return problems;
}

function firstDifference(block: string, text: string): string | undefined {
  const shown = block.trimEnd().split("\n");
  const actual = text.trimEnd().split("\n");
  for (let line = 0; line < Math.max(shown.length, actual.length); line++) {
    if (shown[line] !== actual[line]) {
      return `line ${line + 1}: README ${JSON.stringify(shown[line] ?? "")}, file ${JSON.stringify(actual[line] ?? "")}`;
    }
  }
  return undefined;
}

function exampleFiles(dir: string, root: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return exampleFiles(path, root);
    return /\.tsx?$/.test(entry.name) ? [relative(root, path)] : [];
  });
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const problems = checkReadmeExamples();
  for (const problem of problems) console.error(problem);
  process.exitCode = problems.length === 0 ? 0 : 1;
}
