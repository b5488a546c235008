#!/usr/bin/env bash
# Runs the whole test suite: builds libpush.so and the push CLI, runs the unit
# tests, then the integration tests once per enforcement backend:
#   - on a machine with PKU: `mpk` and `mprotect`, both directly;
#   - without PKU: `mprotect` directly, and `mpk` inside a QEMU guest whose
#     software CPU implements protection keys (scripts/pku-vm.sh), unless
#     PUSH_SKIP_VM=1 (then the mpk pass is reported as skipped, and fails
#     with PUSH_REQUIRE_PKU=1).
# Every test binary runs even when one fails; the last line is the total
# ("N passed, N failed, N skipped"), where skipped counts tests that could
# not run their check on a backend (their reasons are listed above it).
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD

command -v gcc >/dev/null || { echo "gcc is required: apt-get install -y gcc" >&2; exit 1; }

cargo build --release --workspace || exit 1

# Other allocators, for the transparency tests (tests/tests/allocators.rs):
# installed when missing and possible; otherwise those tests record skips.
alloc_pkgs=()
for p in libjemalloc2 libtcmalloc-minimal4 libmimalloc2.0; do
    dpkg -s "$p" >/dev/null 2>&1 || alloc_pkgs+=("$p")
done
if [ ${#alloc_pkgs[@]} -gt 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing ${alloc_pkgs[*]} for the allocator tests"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q "${alloc_pkgs[@]}" >/dev/null 2>&1 ||
        { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q "${alloc_pkgs[@]}" >/dev/null 2>&1; } ||
        echo "could not install ${alloc_pkgs[*]}: the allocator tests will record skips"
fi

# The C++ test programs (tests/c/*.cpp, auto mode's in tests/tests/auto.rs):
# g++, which Debian's gcc package does not pull in; installed when missing
# and possible, else those tests record skips.
if ! command -v g++ >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing g++ for the C++ test programs"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q g++ >/dev/null 2>&1 ||
        { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q g++ >/dev/null 2>&1; } ||
        echo "could not install g++: the C++ tests will record skips"
fi

# The CI-job tests (tests/tests/ci.rs): cmake for examples/cmake, and
# Python's jsonschema to validate SARIF logs against the vendored schema;
# installed when missing and possible, else those checks record skips.
ci_pkgs=()
command -v cmake >/dev/null || ci_pkgs+=(cmake)
command -v make >/dev/null || ci_pkgs+=(make)
{ python3 -c 'import jsonschema' || /usr/bin/python3 -c 'import jsonschema'; } >/dev/null 2>&1 ||
    ci_pkgs+=(python3-jsonschema)
if [ ${#ci_pkgs[@]} -gt 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing ${ci_pkgs[*]} for the CI-job tests"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q "${ci_pkgs[@]}" >/dev/null 2>&1 ||
        { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q "${ci_pkgs[@]}" >/dev/null 2>&1; } ||
        echo "could not install ${ci_pkgs[*]}: the CI-job tests will record skips"
fi

logs=target/test-logs
rm -rf "$logs" target/test-skips
mkdir -p "$logs"
failed_passes=()

has_pku() { grep -qw pku /proc/cpuinfo && grep -qw ospke /proc/cpuinfo && [ "${PUSH_SIMULATE_NO_PKU:-0}" != 1 ]; }

# run_pass NAME CMD...: runs one pass, keeping its output (shown as it runs).
run_pass() {
    local name=$1
    shift
    echo "=== test pass: $name ==="
    local start=$SECONDS
    if ! "$@" 2>&1 | tee "$logs/$name.log"; then
        failed_passes+=("$name")
    fi
    echo "=== $name: $((SECONDS - start)) s ==="
}

# Unit tests (no runtime, no backend) and the integration tests on the
# machine's own backend.
if has_pku; then direct=mpk; other=mprotect; else direct=mprotect; other=mpk; fi
run_pass "unit+integration-$direct" env PUSH_TEST_BACKEND=$direct \
    cargo test --release --workspace --no-fail-fast --lib --tests --bin push -- --test-threads=2

# Doc tests (push-annotate's examples, run without the runtime) in the dev
# profile: under the release profile (fat LTO) each of them links for
# seconds, about 10 minutes in all.
run_pass "doctests" cargo test --workspace --no-fail-fast --doc

# The integration tests on the other backend.
if [ "$other" = mprotect ]; then
    run_pass "integration-mprotect" env PUSH_TEST_BACKEND=mprotect \
        cargo test --release -p push-tests --no-fail-fast -- --test-threads=2
elif [ "${PUSH_SKIP_VM:-0}" = 1 ]; then
    echo "=== test pass: integration-mpk: not run (PUSH_SKIP_VM=1, no PKU on this CPU) ==="
    echo "SKIPPED integration-mpk pass: no PKU here and PUSH_SKIP_VM=1" >"$logs/integration-mpk.log"
    if [ "${PUSH_REQUIRE_PKU:-0}" = 1 ]; then failed_passes+=("integration-mpk (required)"); fi
else
    # Build the test binaries here, run them in the guest (cargo itself
    # stays on the host). The Rust programs that tests/tests/rust_annotate.rs
    # builds with cargo are built here too, so that the guest's cargo (the
    # host's, over 9p) only finds them fresh.
    CARGO_TARGET_DIR=target/rust-annotate cargo build -p push-rust-examples --bins
    CARGO_TARGET_DIR=target/rust-annotate cargo test -p push-rust-examples --test runner_demo --no-run
    cargo test --release -p push-tests --no-run --message-format=json 2>/dev/null |
        python3 -c 'import json,sys
for l in sys.stdin:
    try: m = json.loads(l)
    except ValueError: continue
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["kind"] == ["test"]:
        print(m["executable"])' >"$logs/vm-binaries.txt"
    {
        echo 'set -u; rc=0'
        echo 'for b in $(cat target/test-logs/vm-binaries.txt); do'
        echo '  echo "     Running $b"; "$b" --test-threads=2 || rc=1'
        echo 'done; exit $rc'
    } >"$logs/vm-run.sh"
    run_pass "integration-mpk-in-qemu" env -u PUSH_SIMULATE_NO_PKU PUSH_TEST_BACKEND=mpk PUSH_REQUIRE_PKU=1 \
        PUSH_TEST_TIMEOUT_SCALE=20 scripts/pku-vm.sh --timeout 3000 bash "$root/$logs/vm-run.sh"
fi

echo "backends: $direct directly; $other $(
    if [ "$other" = mprotect ]; then echo directly;
    elif [ "${PUSH_SKIP_VM:-0}" = 1 ]; then echo 'not run (PUSH_SKIP_VM=1)';
    else echo 'inside the QEMU guest (scripts/pku-vm.sh)'; fi)"

# Totals over every pass.
python3 - "$logs" <<'EOF'
import glob, os, re, sys
logs = sys.argv[1]
passed = failed = 0
for f in sorted(glob.glob(os.path.join(logs, "*.log"))):
    text = open(f, errors="replace").read()
    p = sum(int(m) for m in re.findall(r"test result: \w+\. (\d+) passed", text))
    fl = sum(int(m) for m in re.findall(r"; (\d+) failed", text))
    passed += p
    failed += fl
    if "SKIPPED integration-mpk pass" in text:
        print(f"{os.path.basename(f)}: the whole mpk pass was skipped")
skips = {}
for f in glob.glob("target/test-skips/*.log"):
    backend = os.path.basename(f)[:-4]
    for line in open(f, errors="replace"):
        name, _, reason = line.rstrip("\n").partition("\t")
        skips.setdefault((backend, reason), []).append(name)
nskip = sum(len(v) for v in skips.values())
if skips:
    print("Skipped checks (the test ran but could not check this on that backend):")
    for (backend, reason), names in sorted(skips.items()):
        print(f"  [{backend}] {len(names)} x {reason}")
        for n in sorted(names):
            print(f"      {n}")
print(f"{passed - nskip} passed, {failed} failed, {nskip} skipped")
EOF

if [ ${#failed_passes[@]} -gt 0 ]; then
    echo "failed passes: ${failed_passes[*]}" >&2
    exit 1
fi
