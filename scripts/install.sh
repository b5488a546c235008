#!/usr/bin/env bash
# Installs PUSh: builds the release binaries and copies them under PREFIX
# (default /usr/local when run as root, else ~/.local):
#   PREFIX/bin/push, PREFIX/bin/push-wait, PREFIX/lib/libpush.so
# `push` finds libpush.so at ../lib/libpush.so from its own directory (or
# next to itself, or wherever PUSH_LIB points), so PREFIX/bin on PATH is all
# a user needs.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" = 0 ]; then default=/usr/local; else default="$HOME/.local"; fi
prefix="${1:-${PREFIX:-$default}}"
cargo build --release -p preload
install -d "$prefix/bin" "$prefix/lib"
install -m 755 target/release/push target/release/push-wait "$prefix/bin/"
install -m 644 target/release/libpush.so "$prefix/lib/libpush.so"
echo "installed push, push-wait in $prefix/bin and libpush.so in $prefix/lib"
case ":$PATH:" in
*":$prefix/bin:"*) ;;
*) echo "add $prefix/bin to PATH to run 'push' by name" ;;
esac
