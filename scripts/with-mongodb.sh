#!/usr/bin/env bash
# Usage: scripts/with-mongodb.sh <command...>
# Starts an isolated nx-27017 (a MongoDB wire-protocol server backed by SQLite)
# on a free loopback port, exports CHATOPS_TEST_MONGODB_URI (and how to start
# another: CHATOPS_TEST_NX_PYTHON, CHATOPS_TEST_NX_LAUNCHER),
# runs the command, then stops the server. Installs the server first when
# missing (pinned versions; see ../README.md "Tests").
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
PY=${NX_PYTHON:-python3}
if ! "$PY" -c 'import nx_27017, neosqlite, pymongo' 2>/dev/null; then
  echo "installing nx-27017 (MongoDB wire-protocol server for tests)..." >&2
  "$PY" -m pip install --quiet --disable-pip-version-check \
    nx-27017==0.8.1 neosqlite==1.17.2 pymongo==4.20.0 >&2
fi
DATA=$(mktemp -d)
PORT=$("$PY" -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
"$PY" "$HERE/nx_launch.py" --data-dir "$DATA" --host 127.0.0.1 -p "$PORT" \
    --log-file "$DATA/nx.log" --pid-file "$DATA/nx.pid" >"$DATA/stdout.log" 2>&1 &
NX_PID=$!
cleanup() {
  kill -TERM "$NX_PID" 2>/dev/null || true
  for _ in $(seq 1 30); do kill -0 "$NX_PID" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$NX_PID" 2>/dev/null || true
  rm -rf "$DATA"
}
trap cleanup EXIT
for _ in $(seq 1 100); do
  (echo >"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
  kill -0 "$NX_PID" 2>/dev/null || { echo "nx-27017 failed to start:" >&2; cat "$DATA/stdout.log" >&2; exit 1; }
  sleep 0.05
done
export CHATOPS_TEST_MONGODB_URI="mongodb://127.0.0.1:$PORT/?directConnection=true"
# For tests that start (and stop) a server of their own.
export CHATOPS_TEST_NX_PYTHON="$PY" CHATOPS_TEST_NX_LAUNCHER="$HERE/nx_launch.py"
echo "MongoDB wire-protocol server (nx-27017) on 127.0.0.1:$PORT" >&2
"$@"
