#!/usr/bin/env bash
# The whole test suite: starts what the tests need when it is missing
# (PostgreSQL, Redis, cargo-nextest), then runs every test and doctest.
set -euo pipefail
cd "$(dirname "$0")/.."

export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
export TINY_TEST_REDIS_URL="${TINY_TEST_REDIS_URL:-redis://127.0.0.1:6379/0}"

apt_updated=0
apt_install() {
  if [ "$apt_updated" = 0 ]; then apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

wait_for() { # what, command...
  local what=$1; shift
  for _ in $(seq 1 60); do "$@" >/dev/null 2>&1 && return 0; sleep 0.5; done
  echo "tests/run.sh: $what did not come up" >&2; return 1
}

# PostgreSQL at 127.0.0.1:5432, trust auth, database `test`.
if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  command -v pg_ctlcluster >/dev/null || apt_install postgresql postgresql-client
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  wait_for PostgreSQL pg_isready -q -h 127.0.0.1 -p 5432
fi
psql -h 127.0.0.1 -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'test'" postgres | grep -q 1 \
  || psql -h 127.0.0.1 -U postgres -c "CREATE DATABASE test" postgres

# Redis at 127.0.0.1:6379.
if ! redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; then
  command -v redis-server >/dev/null || apt_install redis-server
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  wait_for Redis sh -c 'redis-cli -h 127.0.0.1 -p 6379 ping | grep -q PONG'
fi

# curl (with HTTP/2) for tests/tls.rs.
command -v curl >/dev/null || apt_install curl

# Chromium and chromedriver for tests/browser.rs.
if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
  apt_install chromium chromium-driver
fi

command -v cargo-nextest >/dev/null || cargo install --locked cargo-nextest

# Hygiene: formatting, lints on every target, and each feature combination
# of the runtime building on its own (an item gated on the wrong feature
# shows up only there).
cargo fmt --version >/dev/null 2>&1 || rustup component add rustfmt
cargo clippy --version >/dev/null 2>&1 || rustup component add clippy
cargo fmt --all -- --check
for features in --no-default-features "--features postgres" "--features redis"; do
  # shellcheck disable=SC2086 # one or two words, split on purpose
  cargo check -p tiny $features
done
cargo clippy --workspace --all-targets --all-features -- -D warnings

# The examples the tests run as processes, built once up front.
cargo build --workspace --all-features --examples

cargo nextest run --workspace --all-features --no-fail-fast
cargo test --workspace --all-features --doc
