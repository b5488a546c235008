#!/usr/bin/env bash
# Runs the whole test suite: builds libpush.so and the push CLI, then every test.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v gcc >/dev/null || { echo "gcc is required: apt-get install -y gcc" >&2; exit 1; }
cargo build --release --workspace
cargo test --release --workspace -- --test-threads=2
