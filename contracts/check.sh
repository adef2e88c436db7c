#!/usr/bin/env bash
# Builds and tests the DAO contracts offline and fails if the committed
# artifacts or gas snapshot differ from what the sources produce.
# Used by .ci/run; run it by hand after changing anything under src/.
set -euo pipefail
cd "$(dirname "$0")"

npm ci --no-audit --no-fund --loglevel=error
# The npm packages do not always keep the executable bit.
chmod +x node_modules/@foundry-rs/*/bin/* tools/solc
forge=node_modules/.bin/forge

"$forge" --version | head -1
"$forge" fmt --check
"$forge" build --force
node tools/export-artifacts.js
if ! git diff --exit-code -- artifacts; then
  echo "contracts/artifacts differ from the sources: run contracts/check.sh and commit artifacts/" >&2
  exit 1
fi
if [ -n "$(git status --porcelain -- artifacts)" ]; then
  echo "contracts/artifacts has files that are not committed:" >&2
  git status --porcelain -- artifacts >&2
  exit 1
fi
"$forge" test
"$forge" snapshot --check
# Per-call gas (register, deregister, anchor at 10 to 3000 nodes) is written
# by the tests themselves; it must match what is committed.
if ! git diff --exit-code -- snapshots || [ -n "$(git status --porcelain -- snapshots)" ]; then
  echo "contracts/snapshots differ from what the tests measure: commit the new figures" >&2
  exit 1
fi
