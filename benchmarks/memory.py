#!/usr/bin/env python3
"""Memory and allocation cost of PUSh's tracked objects: the PSS of a process
holding many small push_malloc objects, and the time of a push_malloc +
push_free pair, natively (push.h falls back to malloc) and under PUSh
(LD_PRELOAD=target/release/libpush.so).

    python3 benchmarks/memory.py [--runs N] [--objects N[,N...]] [--pairs N]
                                 [--options PUSH_OPTIONS] [--out FILE]

Builds benchmarks/micro/pss_objects.c into target/bench/ (gcc -O2 -g
-pthread -Iinclude), runs each measurement natively and under PUSh
alternately, --runs times each, and prints a markdown table of medians.
See benchmarks/README.md. Standard library only; runs its children with
bench.py's run_child.
"""

import argparse
import os
import re
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (the harness: run_child, push_stats)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRC = os.path.join(ROOT, "benchmarks", "micro", "pss_objects.c")
INCLUDE = os.path.join(ROOT, "include")
TARGET = os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target")
if not os.path.isabs(TARGET):
    TARGET = os.path.join(ROOT, TARGET)
OUT_DIR = os.path.join(TARGET, "bench")
EXE = os.path.join(OUT_DIR, "pss_objects")
LIBPUSH = os.path.join(TARGET, "release", "libpush.so")

CFLAGS = ["-O2", "-g", "-pthread", "-I", INCLUDE]
TIMEOUT = {"native": 120, "push": 600}
MODES = ["native", "push"]

KV_RE = re.compile(r"(\w+)=([^\s]+)")


def log(msg=""):
    print(msg, file=sys.stderr, flush=True)


def build():
    inputs = [SRC, os.path.join(INCLUDE, "push.h"), os.path.abspath(__file__)]
    try:
        t = os.path.getmtime(EXE)
        if all(os.path.getmtime(i) <= t for i in inputs):
            return
    except OSError:
        pass
    os.makedirs(OUT_DIR, exist_ok=True)
    tmp = EXE + ".tmp%d" % os.getpid()
    cmd = ["gcc"] + CFLAGS + ["-o", tmp, SRC]
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        sys.exit("compiling failed: %s\n%s" % (" ".join(cmd), r.stdout))
    os.replace(tmp, EXE)


def run(mode, args, options):
    """Runs pss_objects natively or under PUSh (with PUSH_OPTIONS=verbose=1
    plus `options`); returns (fields of its output line, PUSh statistics,
    PUSh warnings)."""
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    env.pop("PUSH_OPTIONS", None)
    if mode == "push":
        env["LD_PRELOAD"] = LIBPUSH
        env["PUSH_OPTIONS"] = "verbose=1" + (":" + options if options else "")
    r = bench.run_child([EXE] + [str(a) for a in args], TIMEOUT[mode], False, env)
    what = "%s %s" % (mode, " ".join(str(a) for a in args))
    if r.timed_out:
        sys.exit("%s: timed out after %d s\n%s" % (what, TIMEOUT[mode], r.stderr_text[-2000:]))
    if r.rc != 0:
        sys.exit("%s: exit status %d\n%s%s" % (what, r.rc, r.stdout_text, r.stderr_text[-4000:]))
    warnings = [line for line in r.stderr_text.splitlines()
                if line.startswith("WARNING: PUSh:") or line.startswith("PUSh: warning")]
    return dict(KV_RE.findall(r.stdout_text)), bench.push_stats(r.stderr_text), warnings


def measure(args, runs, options, key):
    """`runs` runs per mode, alternating; returns {mode: [values of key]},
    the PUSh statistics of the last run, the warnings seen, and the
    checksums by mode."""
    values = {m: [] for m in MODES}
    checksums = {m: set() for m in MODES}
    warnings = {}  # the first of each warning, by its text without numbers
    stats = {}
    for i in range(runs):
        for mode in MODES if i % 2 == 0 else reversed(MODES):
            fields, st, warns = run(mode, args, options)
            if key not in fields:
                sys.exit("%s %s: no %s= in the output: %r" % (mode, args, key, fields))
            values[mode].append(float(fields[key]))
            if "checksum" in fields:
                checksums[mode].add(fields["checksum"])
            if mode == "push":
                stats = st
                for w in warns:
                    warnings.setdefault(re.sub(r"\d+", "N", w), w)
    for mode in MODES:
        if len(checksums[mode]) > 1:
            sys.exit("%s %s: checksums differ between runs: %s" % (mode, args, checksums[mode]))
    if checksums["native"] != checksums["push"]:
        sys.exit("%s: checksum native %s != PUSh %s" % (args, checksums["native"], checksums["push"]))
    return values, stats, list(warnings.values())


def fmt_int(v):
    return "{:,}".format(int(round(v)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5, help="runs per mode and measurement (default 5)")
    ap.add_argument("--objects", default="200000,300",
                    help="object counts for the PSS measurement (default 200000,300)")
    ap.add_argument("--pairs", type=int, default=1000000,
                    help="push_malloc+push_free pairs per timing run (default 1000000)")
    ap.add_argument("--options", default="",
                    help="extra PUSH_OPTIONS for the PUSh runs (verbose=1 is always set)")
    ap.add_argument("--out", help="also write the table to this file")
    a = ap.parse_args()

    if not os.path.exists(LIBPUSH):
        sys.exit("%s not found: run cargo build --release first" % LIBPUSH)
    build()
    counts = [int(x) for x in a.objects.split(",") if x]
    lines = []
    notes = []

    lines.append("| objects | PSS native (kB) | PSS PUSh (kB) | overhead | PUSh: tracked / untracked | PUSh faults |")
    lines.append("| ---: | ---: | ---: | ---: | ---: | ---: |")
    for n in counts:
        log("pss %d: %d runs per mode" % (n, a.runs))
        vals, stats, warns = measure(["pss", n], a.runs, a.options, "pss_kb")
        nat = statistics.median(vals["native"])
        push = statistics.median(vals["push"])
        over = "%+.1f%%" % ((push / nat - 1) * 100) if nat > 0 else "n/a"
        tracked = "%s / %s" % (stats.get("live_objects", "?"), stats.get("untracked_allocs", "?"))
        lines.append("| %s | %s | %s | %s | %s | %s |" % (fmt_int(n), fmt_int(nat), fmt_int(push), over, tracked,
                                                     stats.get("faults", "?")))
        for w in warns:
            notes.append("pss %d under PUSh: `%s`" % (n, w))

    lines.append("")
    log("fixed cost: %d runs per mode" % a.runs)
    parts = ["pss_kb", "libpush_kb", "libc_kb", "other_libs_kb", "anon_kb", "stack_kb", "exe_kb"]
    per = {k: {m: [] for m in MODES} for k in parts}
    for i in range(a.runs):
        for mode in MODES if i % 2 == 0 else reversed(MODES):
            fields = run(mode, ["fixed", 0], a.options)[0]
            for k in parts:
                per[k][mode].append(float(fields.get(k, "nan")))
    lines.append("| fixed cost (nothing tracked), PSS kB | total | libpush.so | libc | other libraries "
                 "| anonymous | stack | executable |")
    lines.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for mode in MODES:
        lines.append("| %s | %s |" % (mode, " | ".join(fmt_int(statistics.median(per[k][mode])) for k in parts)))

    lines.append("")
    lines.append("| allocation (%s pairs) | native ns/pair | PUSh ns/pair | ratio |" % fmt_int(a.pairs))
    lines.append("| --- | ---: | ---: | ---: |")
    for mode_arg, title in (("pairs", "push_malloc(32) + push_free"),
                            ("mixed", "mixed sizes, pool of 1024 live objects")):
        log("%s %d: %d runs per mode" % (mode_arg, a.pairs, a.runs))
        vals, _, warns = measure([mode_arg, a.pairs], a.runs, a.options, "ns_per_pair")
        nat = statistics.median(vals["native"])
        push = statistics.median(vals["push"])
        ratio = "%.1fx" % (push / nat) if nat > 0 else "n/a"
        lines.append("| %s | %.1f | %.1f | %s |" % (title, nat, push, ratio))
        for w in warns:
            notes.append("%s under PUSh: `%s`" % (mode_arg, w))

    lines.append("")
    lines.append("Medians of %d runs per mode, native and PUSh alternating; PSS is the Pss: line of "
                 "/proc/self/smaps_rollup read by the program with every object live; "
                 "tracked / untracked and faults: live_objects, untracked_allocs and faults of the PUSh "
                 "statistics (last run)." % a.runs)
    if notes:
        lines.append("")
        lines.extend("- " + n for n in notes)
    text = "\n".join(lines) + "\n"
    print(text, end="")
    if a.out:
        with open(a.out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
