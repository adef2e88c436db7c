#!/usr/bin/env bash
# The whole test suite: the DAO contracts (forge, offline, toolchain from
# npm) and then every Rust crate. README's quick start and .ci/run both call
# this. Needs node, npm and Prometheus (prometheus, promtool) besides cargo.
set -euo pipefail
cd "$(dirname "$0")"
for tool in node npm cargo prometheus promtool; do
  command -v "$tool" >/dev/null || { echo "test.sh needs $tool on PATH (Debian: apt install nodejs npm prometheus)" >&2; exit 1; }
done
contracts/check.sh
# The js-libp2p peer of the interop test (node/tests/interop_js.rs), pinned by its lock file.
[ -d interop/js/node_modules/libp2p ] || (cd interop/js && npm ci --no-audit --no-fund --loglevel=error)
cargo test --workspace --locked "$@"
