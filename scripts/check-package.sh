#!/usr/bin/env bash
# Packaging checks with the ecosystem's own tools, on the tarball npm publishes
# (README: Development). `npm pack` runs the build first (prepack).
set -euo pipefail
cd "$(dirname "$0")/.."
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
npm pack --silent --pack-destination "$out" >/dev/null
tarball="$(ls "$out"/*.tgz)"

npx publint run "$tarball" --strict

# cjs-resolves-to-esm is accepted: the package is ESM only, and CommonJS
# callers load it with require(esm), which every Node.js release in
# "engines" has (20.19+, 22.12+) and TypeScript 5.8+ accepts under
# "module": "nodenext" (attw judges with TypeScript 5.6, which predates it).
# test/package.test.ts proves require() of every entry point and two
# CommonJS projects that compile and run against the tarball.
npx attw "$tarball" --ignore-rules cjs-resolves-to-esm
