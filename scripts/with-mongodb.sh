#!/usr/bin/env bash
# Usage: scripts/with-mongodb.sh <command...>
# Starts an isolated nx-27017 (a MongoDB wire-protocol server backed by SQLite)
# on a free loopback port, exports CHATOPS_TEST_MONGODB_URI (and how to start
# another: CHATOPS_TEST_NX_PYTHON, CHATOPS_TEST_NX_LAUNCHER),
# runs the command, then stops the server. Installs the server first when
# missing (pinned versions), into .venv-test/ under the project, never into
# the global Python (see ../README.md "Tests").
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
# The server goes into a virtual environment under the project (git-ignored),
# never into the global Python. NX_PYTHON: a Python that already has it.
VENV=${NX_VENV:-$ROOT/.venv-test}
PINNED=(nx-27017==0.8.1 neosqlite==1.17.2 pymongo==4.20.0)
if [ -n "${NX_PYTHON:-}" ]; then
  PY=$NX_PYTHON
else
  PY=$VENV/bin/python
  if [ ! -x "$PY" ] || ! "$PY" -c 'import pip' 2>/dev/null; then
    rm -rf "$VENV"
    if ! python3 -m venv "$VENV" >/dev/null 2>&1; then
      rm -rf "$VENV"
      # Debian and Ubuntu ship venv's pip bootstrap separately (python3-venv).
      if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "installing python3-venv (to create $VENV)..." >&2
        (apt-get install -y -qq python3-venv >&2 || { apt-get update -qq >&2 && apt-get install -y -qq python3-venv >&2; })
        python3 -m venv "$VENV" >&2
      else
        echo "scripts/with-mongodb.sh: cannot create $VENV: 'python3 -m venv' failed." >&2
        echo "  Install python3-venv (Debian/Ubuntu: sudo apt-get install python3-venv)," >&2
        echo "  or set NX_PYTHON to a Python that has ${PINNED[*]}." >&2
        exit 1
      fi
    fi
  fi
fi
if ! "$PY" -c 'import nx_27017, neosqlite, pymongo' 2>/dev/null; then
  echo "installing nx-27017 into $("$PY" -c 'import sys; print(sys.prefix)') (MongoDB wire-protocol server for tests)..." >&2
  "$PY" -m pip install --quiet --disable-pip-version-check "${PINNED[@]}" >&2
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
