#!/usr/bin/env bash
# The whole test suite: starts a MongoDB wire-protocol server for the
# store conformance and integration tests, then runs `cargo test`.
# Extra arguments go to cargo test (e.g. scripts/test.sh --test agent_loop).
set -euo pipefail
cd "$(dirname "$0")/.."
exec scripts/with-mongodb.sh cargo test --locked "$@"
