#!/usr/bin/env bash
# The whole test suite: starts a MongoDB wire-protocol server for the
# store conformance and integration tests, runs `cargo test`, then the agent
# eval set on the offline planner (a drop below its threshold fails the suite).
# Extra arguments go to cargo test (e.g. scripts/test.sh --test it agent_loop::)
# and skip the eval.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/with-mongodb.sh cargo test --locked "$@"
if [ $# -eq 0 ]; then
  # Offline on purpose: no LLM settings reach the eval, whatever the environment has.
  env -u OPENAI_API_KEY -u OPENAI_BASE_URL -u CHATOPS_CONFIG \
    cargo run --locked --quiet -- eval evals/ops.jsonl --min-accuracy "${EVAL_MIN_ACCURACY:-0.95}"
fi
