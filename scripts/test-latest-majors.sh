#!/bin/sh
# The adapter conformance suite against the newest release of every peer
# (README "Development"): a copy of the repository in a scratch directory,
# its devDependencies on the frameworks and drivers moved to "latest", a
# fresh install there, then the suite. The repository's own node_modules is
# not touched. better-sqlite3 stays at the repository's range: its 13.x
# needs Node.js 22 or later (engines >=22; it crashes on 20). Usage: scripts/test-latest-majors.sh [scratch-dir]
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-$(mktemp -d "${TMPDIR:-/tmp}/ts-oidc-auth-latest.XXXXXX")}
mkdir -p "$dir"
(cd "$root" && git ls-files -z | xargs -0 tar -cf - --) | tar -xf - -C "$dir"
cd "$dir"
rm -f package-lock.json
node -e '
const fs = require("node:fs");
const pkg = JSON.parse(fs.readFileSync("package.json", "utf8"));
const peers = ["@nestjs/common", "@nestjs/core", "@nestjs/platform-express", "@nestjs/platform-fastify",
  "express", "fastify", "hono", "koa", "@koa/router", "next", "pg", "mysql2", "ioredis", "mongodb"];
for (const name of peers) pkg.devDependencies[name] = "latest";
fs.writeFileSync("package.json", JSON.stringify(pkg, null, 2) + "\n");'
npm install --no-audit --no-fund
for name in @nestjs/core express fastify hono koa @koa/router next pg mysql2 ioredis mongodb better-sqlite3; do
  echo "$name $(node -p "require('$name/package.json').version")"
done
node --import tsx --test --test-concurrency=2 test/conformance.test.ts test/examples.test.ts test/hardening.test.ts test/base-path.test.ts
