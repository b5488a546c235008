#!/usr/bin/env python3
"""PUSh benchmark harness: the workloads of benchmarks/workloads/ and the
microbenchmarks of benchmarks/micro/, natively, under PUSh, built with
ThreadSanitizer and (with --helgrind) under Valgrind's Helgrind.

    python3 benchmarks/bench.py [--quick] [--runs N] [--helgrind]
                                [--threads T] [--only NAME[,NAME...]]

See benchmarks/README.md. Full mode writes benchmarks/RESULTS.md and
benchmarks/overheads.png; quick mode (small inputs, one run per mode, no
Helgrind, no chart) only checks that every workload runs and agrees with
itself, and exits non-zero if anything is wrong. Standard library only,
except matplotlib for the chart (installed with pip on demand).
"""

import argparse
import datetime
import json
import math
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH_DIR = os.path.join(ROOT, "benchmarks")
WORK_DIR = os.path.join(BENCH_DIR, "workloads")
MICRO_SRC = os.path.join(BENCH_DIR, "micro", "micro.c")
RUST_DIR = os.path.join(BENCH_DIR, "rust")
INCLUDE = os.path.join(ROOT, "include")
TARGET = os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target")
if not os.path.isabs(TARGET):
    TARGET = os.path.join(ROOT, TARGET)
OUT_DIR = os.path.join(TARGET, "bench")
PUSH = os.path.join(TARGET, "release", "push")
# `push run --backend` (None: the CLI's default, auto).
BACKEND = None
LIBPUSH = os.path.join(TARGET, "release", "libpush.so")

CFLAGS = ["-O2", "-g", "-pthread", "-I", INCLUDE]
TSAN_FLAGS = ["-fsanitize=thread"]

MODES = ["native", "push", "tsan"]
MODE_TITLE = {"native": "native", "push": "PUSh", "tsan": "TSan", "helgrind": "Helgrind",
              "plain": "native unannotated", "auto": "PUSh --auto"}
# --auto: the workloads built without annotations (common.h's
# -DPUSH_ANNOTATIONS_OFF, target/bench/NAME.plain), natively ("plain", the
# reference of the auto column) and under `push run --auto` ("auto").
PLAIN_FLAGS = ["-DPUSH_ANNOTATIONS_OFF"]
# Extra `push run` flags of the auto mode (--auto-flags), e.g. ["--sample", "0.5"].
AUTO_FLAGS = []

# The bar of issue 6.
BAR_TIME_GEOMEAN = 1.05
BAR_TIME_WORST = 1.25
BAR_PSS_GEOMEAN = 1.03
BAR_PSS_WORST = 1.50
BAR_TSAN_VS_PUSH = 20.0
# The bar of the annotation-free mode: geometric-mean time overhead at most
# 15%, TSan's overhead at least 20x the auto mode's, on the same runs.
BAR_AUTO_TIME_GEOMEAN = 1.15
BAR_TSAN_VS_AUTO = 20.0


class Workload:
    def __init__(self, name, what, full, quick, helgrind, annotations, tracked, rust=False):
        self.name = name
        self.rust = rust  # a Rust port (benchmarks/rust), built with cargo; no TSan build
        self.what = what  # one line: what it is
        self.full = full  # args after THREADS
        self.quick = quick
        self.helgrind = helgrind
        self.annotations = annotations  # the push.h calls it uses
        self.tracked = tracked  # how many tracked objects, in words

    @property
    def src(self):
        if self.rust:
            return os.path.join(RUST_DIR, "src", "bin", self.name + ".rs")
        return os.path.join(WORK_DIR, self.name + ".c")


# Full inputs run 1-10 s natively with 2 threads on the 2-core AMD EPYC VM of
# RESULTS.md; quick inputs run well under a second even under TSan;
# Helgrind inputs keep Helgrind to tens of seconds.
WORKLOADS = [
    Workload("barnes", "Barnes-Hut n-body, octree (SPLASH-2 barnes)",
             ["196608", "2"], ["4096", "1"], ["32768", "1"],
             "per-thread bodies readonly/private by phase; tree private to its builder, then readonly; "
             "release/acquire hand-off to thread 0",
             "2T+4 large objects"),
    Workload("fft", "six-step 1-D complex FFT (SPLASH-2 fft)",
             ["22", "4"], ["14", "1"], ["20", "1"],
             "per-thread bands readonly while transposed, private while written; twiddle tables readonly",
             "2T+2 large objects"),
    Workload("lu", "blocked LU factorisation (SPLASH-2 lu)",
             ["2048"], ["384"], ["1024"],
             "main allocates and push_transfers 32x32 blocks to their owners; final blocks readonly",
             "(N/32)^2 8-KiB blocks (4096)"),
    Workload("radix", "parallel radix sort (SPLASH-2 radix)",
             ["16777216", "4"], ["262144", "1"], ["4194304", "1"],
             "per-thread chunks private (push_realloc); local copies and histograms readonly after each pass",
             "3T large objects"),
    Workload("ocean", "Jacobi grid stencil with barriers (SPLASH-2 ocean)",
             ["2560", "160"], ["256", "20"], ["1024", "80"],
             "bands private; edge rows readonly/private by sweep parity; residual protected_by a mutex",
             "6T+1 objects"),
    Workload("md", "molecular dynamics, per-molecule locks (SPLASH-2 water-nsquared)",
             ["4096", "40"], ["512", "2"], ["2048", "10"],
             "one object per molecule protected_by its own mutex; per-thread positions readonly/private by phase",
             "one per molecule (4096) + 2T+1"),
    Workload("kmeans", "k-means clustering (STAMP/Rodinia kmeans)",
             ["800000", "20"], ["20000", "5"], ["200000", "5"],
             "points readonly after init; centroids readonly, private to thread 0 between barriers; "
             "accumulator protected_by a mutex",
             "2T+3 objects"),
    Workload("pipeline", "3-stage pipeline with queues (PARSEC dedup)",
             ["64", "8"], ["4", "1"], ["32", "1"],
             "buffers handed through queues with release/acquire, returned with push_transfer; "
             "queues protected_by their mutex; input readonly; stats racy (atomics)",
             "4T+14 objects, 256-KiB buffers"),
    Workload("kv", "hash-table key-value store, one lock per bucket (memcached-like)",
             ["32"], ["1", "1024"], ["2", "1024"],
             "one object per bucket protected_by its own mutex; stats racy (atomics)",
             "one per bucket (8192) + T+1"),
]
# Rust ports (benchmarks/rust, annotated with push-annotate), run only when
# named with --only (they stay out of the C suite's geometric means); the
# same workload, output and checksum as their C originals. Rust's TSan needs
# a nightly compiler: no TSan column for them.
RUST_WORKLOADS = [
    Workload("kv_rs", "Rust port of kv: push-annotate sync::Mutex per bucket, sync::Barrier",
             ["32"], ["1", "1024"], ["2", "1024"],
             "each bucket a push_annotate::sync::Mutex (data tracked, protected by it); stats a racy TrackedBox",
             "one per bucket (8192) + T+1", rust=True),
]
WORKLOAD_NAMES = [w.name for w in WORKLOADS]
ALL_WORKLOADS = WORKLOADS + RUST_WORKLOADS

MICRO_FULL = ["2000000", "2000"]
MICRO_QUICK = ["200000", "200"]

TIMEOUT = {"native": 120, "push": 600, "tsan": 1800, "helgrind": 1800, "plain": 120, "auto": 600}
QUICK_TIMEOUT = {"native": 60, "push": 120, "tsan": 300, "helgrind": 600, "plain": 60, "auto": 120}

CHECKSUM_RE = re.compile(r"^checksum=(0x[0-9a-f]+)$", re.M)


def log(msg=""):
    print(msg, flush=True)


# ---------------------------------------------------------------- machine

def machine_info():
    info = {}
    cpu = "unknown"
    flags = set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and cpu == "unknown":
                    cpu = line.split(":", 1)[1].strip()
                if line.startswith("flags") and not flags:
                    flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    info["cpu"] = cpu
    info["pku"] = "pku" in flags and "ospke" in flags
    info["cores"] = os.cpu_count() or 1
    try:
        info["usable_cores"] = len(os.sched_getaffinity(0))
    except AttributeError:
        info["usable_cores"] = info["cores"]
    info["kernel"] = platform.release()
    info["memory_gib"] = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    info["memory_gib"] = round(int(line.split()[1]) / 1048576, 1)
    except OSError:
        pass
    info["gcc"] = first_line(["gcc", "--version"])
    info["valgrind"] = first_line(["valgrind", "--version"]) if shutil.which("valgrind") else None
    info["python"] = platform.python_version()
    info["git"] = first_line(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"])
    dirty = first_line(["git", "-C", ROOT, "status", "--porcelain", "--", "crates"])
    info["crates_dirty"] = bool(dirty)
    try:
        st = os.stat(LIBPUSH)
        info["libpush_mtime"] = datetime.datetime.fromtimestamp(st.st_mtime).strftime("%Y-%m-%d %H:%M:%S")
        info["libpush_size"] = st.st_size
    except OSError:
        info["libpush_mtime"] = None
    return info


def first_line(cmd):
    try:
        out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, timeout=30)
        return out.stdout.splitlines()[0].strip() if out.stdout else ""
    except (OSError, subprocess.SubprocessError):
        return None


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return float(f.read().split()[0])
    except OSError:
        return None


def cpu_busy(window=0.5):
    """Cores' worth of CPU used by everything on the machine over `window` s."""
    def snap():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        idle = v[3] + (v[4] if len(v) > 4 else 0)
        return sum(v[:8]), idle
    try:
        t0, i0 = snap()
        time.sleep(window)
        t1, i1 = snap()
    except (OSError, ValueError, IndexError):
        return None
    total = t1 - t0
    return (total - (i1 - i0)) / total * (os.cpu_count() or 1) if total > 0 else None


def wait_idle(limit):
    """Before a run: wait (up to `limit` s) until the rest of the machine uses
    less than a quarter of a core, so that a build or test elsewhere does not
    land in a measurement. Returns the busy level the run started with."""
    busy = cpu_busy() if limit > 0 else None
    deadline = time.time() + limit
    while busy is not None and busy > 0.25 and time.time() < deadline:
        time.sleep(1.0)
        busy = cpu_busy()
    return busy


# ---------------------------------------------------------------- building

def newer(out, inputs):
    try:
        t = os.path.getmtime(out)
    except OSError:
        return False
    return all(os.path.getmtime(i) <= t for i in inputs if os.path.exists(i))


def compile_one(src, out, extra):
    inputs = [src, os.path.join(WORK_DIR, "common.h"), os.path.join(INCLUDE, "push.h"), os.path.abspath(__file__)]
    if newer(out, inputs):
        return None
    tmp = out + ".tmp%d" % os.getpid()
    cmd = ["gcc"] + CFLAGS + extra + ["-o", tmp, src, "-lm"]
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        return "%s\n%s" % (" ".join(cmd), r.stdout)
    os.replace(tmp, out)
    return None


def tsan_usable():
    """Whether gcc -fsanitize=thread links and runs here; else why not."""
    src = os.path.join(OUT_DIR, "tsan_probe.c")
    exe = os.path.join(OUT_DIR, "tsan_probe")
    with open(src, "w") as f:
        f.write("#include <pthread.h>\n#include <stdio.h>\nstatic int x;\n"
                "static void *f(void *a) { (void)a; x++; return 0; }\n"
                "int main(void) { pthread_t t; pthread_create(&t, 0, f, 0); pthread_join(t, 0);"
                " printf(\"%d\\n\", x); return 0; }\n")
    r = subprocess.run(["gcc", "-O1", "-pthread", "-fsanitize=thread", "-o", exe, src],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        return False, "gcc -fsanitize=thread does not link here (is libtsan installed?): " + r.stdout.strip()[-400:]
    r = subprocess.run([exe], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=60)
    if r.returncode != 0 or r.stdout.strip() != "1":
        return False, "a -fsanitize=thread program does not run here: " + r.stdout.strip()[-400:]
    return True, ""


def build_rust(workloads):
    """cargo build --release of the Rust ports, into a target directory of
    their own (a cargo running the tests may hold the main one's lock);
    the binaries are copied to OUT_DIR."""
    if not workloads:
        return
    target = os.path.join(OUT_DIR, "rust-target")
    env = dict(os.environ, CARGO_TARGET_DIR=target)
    env.pop("LD_PRELOAD", None)
    cmd = [os.environ.get("CARGO", "cargo"), "build", "--release", "-p", "push-benchmarks-rs"]
    r = subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        log("cargo build error:\n" + r.stdout[-4000:])
        sys.exit("error: building the Rust benchmarks failed")
    for w in workloads:
        shutil.copy2(os.path.join(target, "release", w.name), os.path.join(OUT_DIR, w.name))


def build(workloads, with_tsan, with_plain=False):
    os.makedirs(OUT_DIR, exist_ok=True)
    build_rust([w for w in workloads if w.rust])
    workloads = [w for w in workloads if not w.rust]
    jobs = []
    for w in workloads:
        jobs.append((w.src, os.path.join(OUT_DIR, w.name), []))
        if with_tsan:
            jobs.append((w.src, os.path.join(OUT_DIR, w.name + ".tsan"), TSAN_FLAGS))
        if with_plain:
            jobs.append((w.src, os.path.join(OUT_DIR, w.name + ".plain"), PLAIN_FLAGS))
    jobs.append((MICRO_SRC, os.path.join(OUT_DIR, "micro"), []))
    if with_tsan:
        jobs.append((MICRO_SRC, os.path.join(OUT_DIR, "micro.tsan"), TSAN_FLAGS))
    with ThreadPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 1))) as ex:
        errors = [e for e in ex.map(lambda j: compile_one(*j), jobs) if e]
    if errors:
        for e in errors:
            log("compile error:\n" + e)
        sys.exit("error: compiling the benchmarks failed")
    if with_plain and shutil.which("nm"):
        # The unannotated binaries must not know PUSh at all.
        for w in workloads:
            exe = os.path.join(OUT_DIR, w.name + ".plain")
            r = subprocess.run(["nm", exe], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            syms = sorted(set(re.findall(r"\b(push_\w+)", r.stdout)))
            if syms:
                sys.exit("error: %s still references %s" % (os.path.relpath(exe, ROOT), ", ".join(syms)))


# ---------------------------------------------------------------- running

def tree_pids(pid):
    """pid and all its descendants (through /proc/PID/task/TID/children)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for tid in os.listdir("/proc/%d/task" % p):
                try:
                    with open("/proc/%d/task/%s/children" % (p, tid)) as f:
                        todo.extend(int(c) for c in f.read().split())
                except OSError:
                    pass
        except OSError:
            pass
    return out


def pss_kib(pid):
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


class Sampler(threading.Thread):
    """Samples the PSS of a process tree every ~10 ms; keeps the peak of the
    sum. Reading smaps_rollup walks the target's page tables (milliseconds
    for a large or many-mapping process), so the sampler waits at least as
    long as its last read took before reading again."""

    def __init__(self, pid, interval=0.010):
        super().__init__(daemon=True)
        self.pid = pid
        self.interval = interval
        self.peak = 0
        self.peak_by_pid = {}
        self.samples = 0
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            t0 = time.perf_counter()
            total = 0
            by = {}
            for p in tree_pids(self.pid):
                v = pss_kib(p)
                by[p] = v
                total += v
            if total > self.peak:
                self.peak = total
                self.peak_by_pid = by
            self.samples += 1
            spent = time.perf_counter() - t0
            self.stop.wait(max(self.interval, spent))


class RunResult:
    def __init__(self, **kw):
        self.__dict__.update(kw)

    def to_json(self):
        d = dict(self.__dict__)
        d.pop("stderr_text", None)
        d.pop("stdout_text", None)
        return d


def run_child(cmd, timeout, sample_pss, env=None, stdout_path=None):
    """Runs cmd with stdout/stderr to files; returns a RunResult with wall
    time (fork to reaping), CPU time, exit status, peak PSS (KiB) when
    sampled, stdout and stderr. With `stdout_path`, stdout goes to that file
    (binary output, e.g. a compressor's) and stdout_text is empty."""
    with (open(stdout_path, "w+b") if stdout_path else tempfile.TemporaryFile()) as out, \
            tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                start_new_session=True, env=env)
        sampler = None
        if sample_pss:
            sampler = Sampler(proc.pid)
            sampler.start()
        timed_out = threading.Event()

        def kill():
            timed_out.set()
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except OSError:
                pass

        timer = threading.Timer(timeout, kill)
        timer.start()
        _, status, ru = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        if sampler:
            sampler.stop.set()
            sampler.join()
        # A leftover grandchild must not outlive the run.
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass
        out.seek(0)
        err.seek(0)
        stdout = "" if stdout_path else out.read().decode(errors="replace")
        stderr = err.read().decode(errors="replace")
    m = CHECKSUM_RE.findall(stdout)
    return RunResult(
        cmd=" ".join(os.path.relpath(c, ROOT) if c.startswith(ROOT) else c for c in cmd),
        wall=wall, cpu=ru.ru_utime + ru.ru_stime, user=ru.ru_utime, sys=ru.ru_stime, rc=proc.returncode, timed_out=timed_out.is_set(),
        pss_kib=sampler.peak if sampler else None,
        pss_samples=sampler.samples if sampler else 0,
        pss_by_process=sorted(sampler.peak_by_pid.values(), reverse=True) if sampler else None,
        checksum=m[-1] if m else None,
        push_reports=stderr.count("WARNING: PUSh:"),
        tsan_reports=stderr.count("WARNING: ThreadSanitizer:"),
        helgrind_errors=helgrind_errors(stderr),
        push_stats=push_stats(stderr),
        stdout_text=stdout, stderr_text=stderr,
    )


def push_stats(stderr):
    """The key=value pairs of the `PUSh: stats:` lines (`push run --verbose 1`)."""
    st = {}
    for line in stderr.splitlines():
        if line.startswith("PUSh: stats:"):
            for k, v in re.findall(r"(\w+)=([0-9.]+%?)", line):
                st[k] = v
    return st


def auto_stats(stderr):
    """The key=value pairs of the `PUSh: stats: auto:` line (--auto --verbose 1)."""
    st = {}
    for line in stderr.splitlines():
        if line.startswith("PUSh: stats: auto:"):
            st.update(re.findall(r"(\w+)=([0-9.]+%?)", line))
    return st


def first_report(stderr, n=40):
    """The first `WARNING: PUSh` report of a run's stderr (up to n lines)."""
    lines = stderr.splitlines()
    for i, line in enumerate(lines):
        if "WARNING: PUSh" in line:
            out = []
            for x in lines[i:i + n]:
                if out and x.startswith("=================="):
                    break
                out.append(x)
            return "\n".join(out)
    return None


def helgrind_errors(stderr):
    m = re.findall(r"ERROR SUMMARY: (\d+) errors", stderr)
    return int(m[-1]) if m else None


def command(mode, name, args, threads, verbose=False):
    exe = os.path.join(OUT_DIR, name)
    argv = [str(threads)] + list(args) if name != "micro" else list(args)
    if mode == "native":
        return [exe] + argv
    if mode == "push":
        backend = ["--backend", BACKEND] if BACKEND else []
        return [PUSH, "run"] + backend + (["--verbose", "1"] if verbose else []) + ["--", exe] + argv
    if mode == "tsan":
        return [exe + ".tsan"] + argv
    if mode == "plain":
        return [exe + ".plain"] + argv
    if mode == "auto":
        backend = ["--backend", BACKEND] if BACKEND else []
        return ([PUSH, "run"] + backend + ["--auto"] + AUTO_FLAGS + (["--verbose", "1"] if verbose else []) +
                ["--", exe + ".plain"] + argv)
    if mode == "helgrind":
        return ["valgrind", "--tool=helgrind", exe] + argv
    raise ValueError(mode)


def tsan_env():
    env = dict(os.environ)
    # Keep a workload's exit status meaningful and its reports countable.
    env.setdefault("TSAN_OPTIONS", "exitcode=66")
    return env


def problems_of(r, mode, expect_checksum=None, expect_rc=0):
    """What is wrong with one run, as strings (empty: fine)."""
    p = []
    if r.timed_out:
        p.append("%s timed out" % mode)
    elif r.rc != expect_rc:
        p.append("%s exited with %s" % (mode, r.rc))
    if mode != "micro" and r.checksum is None and expect_rc == 0:
        p.append("%s printed no checksum" % mode)
    if expect_checksum and r.checksum and r.checksum != expect_checksum:
        p.append("%s checksum %s differs from %s" % (mode, r.checksum, expect_checksum))
    if mode in ("push", "auto") and expect_rc == 0 and r.push_reports:
        p.append("%s reported %d problem(s)" % ("PUSh" if mode == "push" else "PUSh --auto", r.push_reports))
    if mode == "tsan" and r.tsan_reports:
        p.append("TSan reported %d race(s)" % r.tsan_reports)
    return p


def excerpt(text, n=25):
    lines = text.strip().splitlines()
    return "\n".join(lines[:n]) + ("\n..." if len(lines) > n else "")


# ---------------------------------------------------------------- one workload

def run_workload(w, opts, modes):
    args = w.quick if opts.quick else w.full
    res = {"name": w.name, "args": args, "threads": opts.threads, "timed": {m: [] for m in modes},
           "memory": {m: [] for m in modes}, "problems": [], "load": []}
    timeouts = QUICK_TIMEOUT if opts.quick else TIMEOUT
    expect = None

    def record(mode, r, kind):
        nonlocal expect
        res[kind][mode].append(r)
        if expect is None and r.checksum:
            expect = r.checksum
        probs = problems_of(r, mode, expect)
        if mode == "auto" and (probs or r.push_reports):
            # The whole stderr of a failing auto run, for the analysis of its reports.
            path = os.path.join(OUT_DIR, "%s.auto-%s-%d.stderr" % (w.name, kind, len(res[kind][mode])))
            with open(path, "w") as f:
                f.write(r.stderr_text)
            r.stderr_file = os.path.relpath(path, ROOT)
            res.setdefault("auto_failures", []).append({
                "kind": kind, "rc": r.rc, "timed_out": r.timed_out, "checksum": r.checksum,
                "reports": r.push_reports, "problems": probs, "stderr_file": r.stderr_file,
                "first_report": first_report(r.stderr_text)})
        for p in probs:
            res["problems"].append(p)
            log("    PROBLEM: %s (%s)" % (p, r.cmd))
            if r.stderr_text.strip():
                log("    stderr:\n      " + excerpt(r.stderr_text).replace("\n", "\n      "))

    def one(mode, kind, sample):
        env = tsan_env() if mode == "tsan" else None
        res["load"].append(loadavg())
        res.setdefault("busy", []).append(wait_idle(opts.wait_idle))
        # The memory run under PUSh also collects the runtime's statistics
        # (printed at exit; no effect on the run itself).
        r = run_child(command(mode, w.name, args, opts.threads,
                              verbose=(mode in ("push", "auto") and kind == "memory")),
                      timeouts[mode], sample, env)
        if mode == "push" and kind == "memory":
            res["push_stats"] = r.push_stats
        if mode == "auto" and kind == "memory":
            res["auto_stats"] = auto_stats(r.stderr_text)
        record(mode, r, kind)
        log("    %-8s %-6s %8.3f s  %s%s" % (mode, kind, r.wall,
                                             ("%7.1f MiB PSS  " % (r.pss_kib / 1024)) if r.pss_kib else "",
                                             r.checksum or "(no checksum)"))
        return r

    # Memory runs (PSS sampled): one per mode, the modes in turn. In quick
    # mode they are the only runs and their times are the times.
    run_modes = [m for m in modes if not (w.rust and m in ("tsan", "plain", "auto"))]
    for m in run_modes:
        one(m, "memory", True)
    if not opts.quick:
        # Timed runs, not sampled (sampling costs the child's machine time):
        # the modes alternate run by run, the order rotating each round.
        for i in range(opts.runs):
            order = run_modes[i % len(run_modes):] + run_modes[:i % len(run_modes)]
            for m in order:
                if m == "tsan" and i >= opts.tsan_runs:
                    continue
                one(m, "timed", False)
    # Thread-count independence: natively with one thread.
    r1 = run_child(command("native", w.name, args, 1), timeouts["native"], False)
    res["one_thread"] = r1
    for p in problems_of(r1, "native 1-thread", expect):
        res["problems"].append(p)
        log("    PROBLEM: %s" % p)
    log("    %-8s %-6s %8.3f s  %s" % ("native", "1 thr", r1.wall, r1.checksum))
    res["checksum"] = expect
    return res


def run_helgrind(w, opts):
    """Helgrind on the small Helgrind input, against native on the same input."""
    args = w.helgrind
    out = {"args": args}
    nat = run_child(command("native", w.name, args, opts.threads), TIMEOUT["native"], True)
    hg = run_child(command("helgrind", w.name, args, opts.threads), TIMEOUT["helgrind"], True)
    out["native"], out["helgrind"] = nat, hg
    out["problems"] = problems_of(nat, "native") + problems_of(hg, "helgrind", nat.checksum)
    log("    helgrind %-30s native %.3f s, helgrind %.1f s, %s errors reported%s" % (
        " ".join(args), nat.wall, hg.wall, hg.helgrind_errors,
        "" if not out["problems"] else "  PROBLEM: " + "; ".join(out["problems"])))
    return out


def run_micro(opts, modes):
    args = MICRO_QUICK if opts.quick else MICRO_FULL
    nvictims = int(args[1])
    runs = 1 if opts.quick else min(opts.runs, 3)
    per = {m: [] for m in modes}
    problems = []
    for i in range(runs):
        order = modes[i % len(modes):] + modes[:i % len(modes)]
        for m in order:
            env = tsan_env() if m == "tsan" else None
            r = run_child(command(m, "micro", args, 0), (QUICK_TIMEOUT if opts.quick else TIMEOUT)[m], False, env)
            # Under PUSh the last measurement is a deliberate violation per
            # victim object: exit 66 and one report each is the expected.
            expect_rc = 66 if m == "push" else 0
            p = problems_of(r, "micro", None, expect_rc)
            if m == "push" and r.push_reports != nvictims:
                p.append("micro under PUSh: %d reports, expected %d" % (r.push_reports, nvictims))
            if m == "tsan" and r.tsan_reports:
                p.append("micro under TSan: %d reports" % r.tsan_reports)
            problems += p
            vals = {}
            for line in r.stdout_text.splitlines():
                parts = line.split()
                if len(parts) == 2:
                    try:
                        vals[parts[0]] = float(parts[1])
                    except ValueError:
                        pass
            per[m].append(vals)
    names = []
    for vals in per["native"]:
        for k in vals:
            if k not in names:
                names.append(k)
    med = {m: {k: median([v[k] for v in per[m] if k in v]) for k in names} for m in modes}
    for p in problems:
        log("    PROBLEM: " + p)
    return {"args": args, "median": med, "names": names, "problems": problems, "runs": runs}


# ---------------------------------------------------------------- Debian binaries

# --debian: real, unmodified multi-threaded binaries from Debian packages
# under `push run --auto`: (title, executable, compress argv, decompress
# argv), input file last, output on stdout. xz's block size makes -T2 cut a
# 20 MiB input into blocks that the two threads compress (and decompress) in
# parallel; zstd decompresses with one thread whatever -T says.
DEBIAN_TOOLS = [
    ("xz -T2", "xz", ["xz", "-T2", "--block-size=2MiB", "-c"], ["xz", "-d", "-T2", "-c"]),
    ("zstd -T2", "zstd", ["zstd", "-T2", "-q", "-c"], ["zstd", "-d", "-q", "-c"]),
    ("pigz -p 2", "pigz", ["pigz", "-p", "2", "-c"], ["pigz", "-p", "2", "-d", "-c"]),
]
DEBIAN_TIMEOUT = {"native": 120, "auto": 600}
DEBIAN_QUICK_TIMEOUT = {"native": 60, "auto": 180}


def debian_input(mib):
    """A deterministic, compressible file of `mib` MiB (text: numbered lines
    of words from a fixed seeded vocabulary; xz shrinks it about 3x)."""
    import random
    path = os.path.join(OUT_DIR, "debian-input-%dMiB.txt" % mib)
    size = mib * 1024 * 1024
    if os.path.exists(path) and os.path.getsize(path) == size:
        return path
    rng = random.Random(20240601)
    vocab = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 10)))
             for _ in range(4096)]
    out, n, i = [], 0, 0
    while n < size:
        line = "%08d %s\n" % (i, " ".join(rng.choices(vocab, k=12)))
        out.append(line)
        n += len(line)
        i += 1
    tmp = path + ".tmp%d" % os.getpid()
    with open(tmp, "wb") as f:
        f.write("".join(out).encode()[:size])
    os.replace(tmp, path)
    return path


def sha256(path):
    import hashlib
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def run_debian(opts):
    """Each installed tool compresses and decompresses the generated file,
    natively and under `push run --auto`; the outputs must be identical
    (the compressed bytes to native's, the decompressed to the input) and
    --auto must report nothing."""
    src = debian_input(opts.debian_mib)
    src_sha = sha256(src)
    timeouts = DEBIAN_QUICK_TIMEOUT if opts.quick else DEBIAN_TIMEOUT
    runs = 1 if opts.quick else min(opts.runs, 3)
    res = {"input": os.path.relpath(src, ROOT), "mib": opts.debian_mib, "tools": [], "problems": []}
    backend = ["--backend", BACKEND] if BACKEND else []
    for title, exe, comp, decomp in DEBIAN_TOOLS:
        path = shutil.which(exe)
        entry = {"title": title, "version": None, "steps": {}, "problems": []}
        res["tools"].append(entry)
        if not path:
            entry["skipped"] = "%s is not installed (apt-get install -y %s)" % (exe, exe)
            log("== %s: skipped: %s" % (title, entry["skipped"]))
            continue
        entry["version"] = (first_line([exe, "--version"]) or first_line([exe, "-V"]) or "").strip("* ")
        log("== %s (%s)" % (title, entry["version"]))
        zpath = os.path.join(OUT_DIR, "debian-%s.native.z" % exe)
        for step, argv, inp in (("compress", comp, src), ("decompress", decomp, zpath)):
            st = {}
            entry["steps"][step] = st
            for mode in ("native", "auto"):
                rs = []
                for i in range(runs + (0 if opts.quick else 1)):
                    sample = i == 0  # the first run is the memory run (PSS sampled)
                    outp = os.path.join(OUT_DIR, "debian-%s.%s.%s" % (exe, mode, "z" if step == "compress" else "out"))
                    cmd = list(argv) + [inp]
                    if mode == "auto":
                        cmd = [PUSH, "run"] + backend + ["--auto"] + AUTO_FLAGS + \
                              (["--verbose", "1"] if sample else []) + ["--"] + cmd
                    r = run_child(cmd, timeouts[mode], sample, stdout_path=outp)
                    r.out_sha = sha256(outp) if os.path.exists(outp) else None
                    rs.append(r)
                    log("    %-10s %-6s %8.3f s  %s%s" % (step, mode, r.wall,
                                                        ("%7.1f MiB PSS  " % (r.pss_kib / 1024)) if r.pss_kib else "",
                                                        "exit %s%s" % (r.rc, " (timed out)" if r.timed_out else "")))
                    if r.rc != 0 or r.timed_out:
                        break  # a failing run is not repeated
                st[mode] = rs
            nat, aut = st["native"], st["auto"]
            probs = []
            if nat[0].rc != 0:
                probs.append("%s natively exited with %s" % (step, nat[0].rc))
            expect = nat[0].out_sha if step == "compress" else src_sha
            if step == "decompress" and nat[0].out_sha != src_sha:
                probs.append("decompress natively does not give the input back")
            for r in aut:
                if r.timed_out:
                    probs.append("%s under --auto timed out after %d s" % (step, timeouts["auto"]))
                elif r.rc != 0:
                    probs.append("%s under --auto exited with %s" % (step, r.rc))
                elif r.out_sha != expect:
                    probs.append("%s under --auto: output differs from %s" % (
                        step, "native's" if step == "compress" else "the input"))
                if r.push_reports:
                    probs.append("%s under --auto: %d PUSh report(s)" % (step, r.push_reports))
            probs = sorted(set(probs), key=probs.index)
            if probs:
                errf = os.path.join(OUT_DIR, "debian-%s-%s.auto.stderr" % (exe, step))
                with open(errf, "w") as f:
                    f.write(aut[-1].stderr_text)
                st["stderr_file"] = os.path.relpath(errf, ROOT)
                st["stderr_excerpt"] = first_report(aut[-1].stderr_text) or excerpt(aut[-1].stderr_text, 15)
                for p in probs:
                    log("    PROBLEM: %s" % p)
            st["problems"] = probs
            st["auto_stats"] = auto_stats(aut[0].stderr_text)
            timed = lambda rs: [r.wall for r in (rs[1:] if len(rs) > 1 else rs) if r.rc == 0 and not r.timed_out]  # noqa: E731
            st["native_s"], st["auto_s"] = median(timed(nat)), median(timed(aut))
            st["native_mib"] = nat[0].pss_kib / 1024 if nat[0].pss_kib else None
            st["auto_mib"] = aut[0].pss_kib / 1024 if aut[0].pss_kib and aut[0].rc == 0 else None
            st["time_ratio"] = st["auto_s"] / st["native_s"] if st["auto_s"] and st["native_s"] and not probs else None
            st["pss_ratio"] = st["auto_mib"] / st["native_mib"] if st["auto_mib"] and st["native_mib"] and not probs else None
            st["runs"] = {m: [r.to_json() for r in st[m]] for m in ("native", "auto")}
            entry["problems"] += probs
            res["problems"] += ["%s %s" % (title, p) for p in probs]
    return res


def debian_section(deb):
    L = []
    add = L.append
    add("## Debian binaries under --auto")
    add("")
    add("Unmodified binaries of the installed Debian packages compress and decompress `%s` (%d MiB of "
        "generated text, deterministic), natively and under `push run --auto%s --`; the compressed bytes "
        "must equal native's, the decompressed the input, and PUSh must report nothing. Decompression "
        "reads native's compressed file. Times are %s; PSS is the peak of the process tree." % (
            deb["input"], deb["mib"], (" " + " ".join(AUTO_FLAGS)) if AUTO_FLAGS else "",
            "of one run" if deb.get("quick") else "medians of timed runs after a PSS-sampled run"))
    add("")
    add("| tool | step | native s | --auto s | --auto/native | native MiB | --auto MiB | PSS ratio | watched / learned / given_up / system_allocs | result |")
    add("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for t in deb["tools"]:
        if t.get("skipped"):
            add("| %s | | | | | | | | | skipped: %s |" % (t["title"], t["skipped"]))
            continue
        for step in ("compress", "decompress"):
            st = t["steps"].get(step)
            if not st:
                continue
            a = st.get("auto_stats") or {}
            add("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                t["title"], step, fmt(st["native_s"], 3), fmt(st["auto_s"], 3), fmt_ratio(st["time_ratio"]),
                fmt(st["native_mib"], 1), fmt(st["auto_mib"], 1), fmt_ratio(st["pss_ratio"]),
                " / ".join(a.get(k, "?") for k in ("watched", "learned", "given_up", "system_allocs")) if a else "n/a",
                "; ".join(st["problems"]) or "ok: identical output, no report"))
    add("")
    for t in deb["tools"]:
        for step in ("compress", "decompress"):
            st = t["steps"].get(step)
            if st and st.get("problems"):
                add("* **%s %s**: %s (stderr: `%s`)" % (t["title"], step, "; ".join(st["problems"]),
                                                     st.get("stderr_file")))
                add("")
                add("  ```")
                for line in (st.get("stderr_excerpt") or "").splitlines()[:20]:
                    add("  " + line)
                add("  ```")
    add("")
    return L


# ---------------------------------------------------------------- statistics

def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def geomean(xs):
    xs = [x for x in xs if x is not None and x > 0]
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else None


def summarize(res, modes, quick):
    kind = "memory" if quick else "timed"
    s = {}
    for m in modes:
        runs = res[kind][m]
        ok = [r for r in runs if r.rc == 0 and not r.timed_out]
        s[m] = {
            "wall": median([r.wall for r in ok]),
            "cpu": median([r.cpu for r in ok]),
            "user": median([r.user for r in ok]),
            "sys": median([r.sys for r in ok]),
            "pss_mib": median([r.pss_kib / 1024 for r in res["memory"][m] if r.pss_kib]),
            "walls": [round(r.wall, 4) for r in runs],
        }
    nat = s["native"]
    for m in modes:
        s[m]["time_ratio"] = s[m]["wall"] / nat["wall"] if s[m]["wall"] and nat["wall"] else None
        s[m]["pss_ratio"] = s[m]["pss_mib"] / nat["pss_mib"] if s[m]["pss_mib"] and nat["pss_mib"] else None
    if "auto" in modes:
        # The auto column's reference: the unannotated binary natively
        # ("plain"), the program --auto is meant for; the annotated native
        # run where there is no plain run.
        ref = s["plain"] if "plain" in modes and s["plain"]["wall"] else nat
        s["auto"]["ref"] = "plain" if ref is not nat else "native"
        s["auto"]["time_ratio_ref"] = s["auto"]["wall"] / ref["wall"] if s["auto"]["wall"] and ref["wall"] else None
        s["auto"]["pss_ratio_ref"] = (s["auto"]["pss_mib"] / ref["pss_mib"]
                                      if s["auto"]["pss_mib"] and ref["pss_mib"] else None)
    if "push" in modes:
        pm = res["memory"]["push"]
        if pm and pm[0].pss_by_process and len(pm[0].pss_by_process) > 1:
            # the program is the largest process of the tree, `push run` the other
            s["push"]["launcher_mib"] = sum(pm[0].pss_by_process[1:]) / 1024
            s["push"]["program_pss_mib"] = pm[0].pss_by_process[0] / 1024
    return s


def fmt(x, nd=2, suffix=""):
    if x is None:
        return "n/a"
    return ("%." + str(nd) + "f%s") % (x, suffix)


def fmt_ratio(x):
    if x is None:
        return "n/a"
    if x >= 100:
        return "%.0fx" % x
    if x >= 10:
        return "%.1fx" % x
    return "%.3fx" % x


def pct(x):
    return "n/a" if x is None else "%+.1f%%" % ((x - 1) * 100)


# ---------------------------------------------------------------- report

def write_report(path, opts, info, modes, results, summaries, micro, helgrind, scaling, tsan_note,
                 chart_note, started, elapsed, all_problems, debian=None):
    L = []
    add = L.append
    full = not opts.quick
    add("# PUSh benchmark results")
    add("")
    add("Generated by `python3 benchmarks/bench.py%s` on %s (%.1f minutes). "
        "Do not edit by hand: rerun the harness." % (
            " " + " ".join(opts.argv) if opts.argv else "", started, elapsed / 60))
    add("")
    add("## Machine")
    add("")
    add("| | |")
    add("| --- | --- |")
    add("| CPU | %s (PKU: %s) |" % (info["cpu"], "yes" if info["pku"] else "no"))
    add("| cores | %d (usable: %d) |" % (info["cores"], info["usable_cores"]))
    add("| memory | %s GiB |" % info["memory_gib"])
    add("| kernel | Linux %s |" % info["kernel"])
    add("| compiler | %s, `%s` (TSan build: `-fsanitize=thread` added) |" % (info["gcc"], " ".join(
        c if c != INCLUDE else "include" for c in CFLAGS)))
    add("| valgrind | %s |" % (info["valgrind"] or "not installed"))
    add("| PUSh | `target/release/push run` with libpush.so built %s, repository at %s%s |" % (
        info.get("libpush_mtime"), info["git"], " (crates/ had uncommitted changes)" if info["crates_dirty"] else ""))
    if info.get("libpush_rebuilt"):
        add("| **note** | libpush.so was rebuilt during this run (now built %s): the PUSh numbers mix two builds |" %
            info["libpush_rebuilt"])
    loads = [x for r in results for x in r["load"] if x is not None]
    if loads:
        add("| load average during runs | min %.2f, median %.2f, max %.2f (1-minute, sampled before each run) |" % (
            min(loads), statistics.median(loads), max(loads)))
    busy = [x for r in results for x in r.get("busy", []) if x is not None]
    if busy:
        add("| other load when runs started | %d of %d runs started with the rest of the machine using more "
            "than a quarter of a core (the harness waits up to %.0f s for an idle machine before each run) |" % (
                sum(1 for x in busy if x > 0.25), len(busy), opts.wait_idle))
    add("")
    add("## Method")
    add("")
    add("Each workload runs with %d threads: natively, under PUSh (`push run --`), and built with "
        "`-fsanitize=thread`%s. %s "
        "Times are wall-clock from fork to exit, including start-up (and, under PUSh, the `push run` "
        "launcher). Memory is the peak **PSS** of the whole process tree (the program, plus the "
        "`push-wait` process that `push run` becomes once the program has started), sampled from `/proc/PID/smaps_rollup` every 10 ms "
        "(never RSS: PUSh maps pages that RSS would count more than once). "
        "Reading smaps_rollup walks the target's page tables, milliseconds per read for a large or "
        "many-mapping process (measured: 2.4 ms for a 130 MB process, 14 ms for one with 8k "
        "mappings), so PSS is sampled in separate memory runs (one per mode) and the timed runs "
        "are not sampled. Every run's checksum must be the same, across modes and with one "
        "thread, and PUSh must report nothing (exit 0, no `WARNING: PUSh` on stderr)." % (
            opts.threads, ", and on a smaller input under Helgrind" if helgrind else "",
            ("%d timed runs per mode (%d under TSan), the modes alternating run by run (the order "
             "rotating each round); the tables give medians." % (opts.runs, opts.tsan_runs)) if full else
            "Quick mode: one run per mode, small inputs; the numbers are not meaningful."))
    add("")
    if tsan_note:
        add("TSan: " + tsan_note)
        add("")

    # --- the bar
    push_t = [summaries[r["name"]]["push"]["time_ratio"] for r in results if "push" in modes]
    push_m = [summaries[r["name"]]["push"]["pss_ratio"] for r in results if "push" in modes]
    tsan_t = [summaries[r["name"]]["tsan"]["time_ratio"] for r in results] if "tsan" in modes else []
    tsan_m = [summaries[r["name"]]["tsan"]["pss_ratio"] for r in results] if "tsan" in modes else []
    gm_t, gm_m = geomean(push_t), geomean(push_m)
    worst_t = max((x for x in push_t if x), default=None)
    worst_m = max((x for x in push_m if x), default=None)
    gm_tsan = geomean(tsan_t)
    gm_tsan_m = geomean(tsan_m)
    tsan_vs = None
    if gm_tsan and gm_t:
        tsan_vs = float("inf") if gm_t <= 1 else (gm_tsan - 1) / (gm_t - 1)

    def verdict(ok):
        return "**holds**" if ok else "**missed**"

    add("## Summary")
    add("")
    add("| measure | PUSh | bar | | TSan |")
    add("| --- | --- | --- | --- | --- |")
    add("| time overhead, geometric mean | %s (%s) | <= %s | %s | %s |" % (
        fmt_ratio(gm_t), pct(gm_t), pct(BAR_TIME_GEOMEAN), verdict(gm_t is not None and gm_t <= BAR_TIME_GEOMEAN),
        fmt_ratio(gm_tsan)))
    add("| time overhead, worst | %s (%s) | <= %s | %s | %s |" % (
        fmt_ratio(worst_t), pct(worst_t), pct(BAR_TIME_WORST),
        verdict(worst_t is not None and worst_t <= BAR_TIME_WORST),
        fmt_ratio(max((x for x in tsan_t if x), default=None))))
    add("| PSS overhead, geometric mean | %s (%s) | <= %s | %s | %s |" % (
        fmt_ratio(gm_m), pct(gm_m), pct(BAR_PSS_GEOMEAN), verdict(gm_m is not None and gm_m <= BAR_PSS_GEOMEAN),
        fmt_ratio(gm_tsan_m)))
    add("| PSS overhead, worst | %s (%s) | <= %s | %s | %s |" % (
        fmt_ratio(worst_m), pct(worst_m), pct(BAR_PSS_WORST), verdict(worst_m is not None and worst_m <= BAR_PSS_WORST),
        fmt_ratio(max((x for x in tsan_m if x), default=None))))
    if tsan_vs is not None:
        add("| TSan time overhead / PUSh time overhead (geomeans, overhead = ratio - 1) | %s | >= %.0f | %s | |" % (
            "infinite" if tsan_vs == float("inf") else "%.1f" % tsan_vs, BAR_TSAN_VS_PUSH,
            verdict(tsan_vs >= BAR_TSAN_VS_PUSH)))
    add("")
    if all_problems:
        add("**Problems** (the harness exits non-zero):")
        add("")
        for p in all_problems:
            add("* " + p)
        add("")
    else:
        add("Every run agreed on its checksum (all modes, %d and 1 threads) and PUSh reported nothing." %
            opts.threads)
        add("")

    # --- per workload
    add("## Workloads")
    add("")
    add("| workload | what | input (after THREADS) | tracked objects | PUSh annotations |")
    add("| --- | --- | --- | --- | --- |")
    for r in results:
        w = next(x for x in ALL_WORKLOADS if x.name == r["name"])
        add("| %s | %s | `%s` | %s | %s |" % (w.name, w.what, " ".join(r["args"]), w.tracked, w.annotations))
    add("")
    add("### Time (wall clock, median of %s)" % ("1" if opts.quick else "%d%s" % (
        opts.runs, (", TSan %d" % opts.tsan_runs) if "tsan" in modes else "")))
    add("")
    head = "| workload | native s | PUSh s | PUSh/native | system CPU s, native / PUSh |"
    sep = "| --- | --- | --- | --- | --- |"
    if "tsan" in modes:
        head += " TSan s | TSan/native | TSan overhead / PUSh overhead |"
        sep += " --- | --- | --- |"
    add(head)
    add(sep)
    for r in results:
        s = summaries[r["name"]]
        row = "| %s | %s | %s | %s | %s / %s |" % (r["name"], fmt(s["native"]["wall"], 3), fmt(s["push"]["wall"], 3),
                                                   fmt_ratio(s["push"]["time_ratio"]), fmt(s["native"]["sys"], 2),
                                                   fmt(s["push"]["sys"], 2))
        if "tsan" in modes:
            pt, tt = s["push"]["time_ratio"], s["tsan"]["time_ratio"]
            rel = None
            if pt and tt:
                rel = "infinite (PUSh not slower)" if pt <= 1 else "%.0f" % ((tt - 1) / (pt - 1))
            row += " %s | %s | %s |" % (fmt(s["tsan"]["wall"], 2), fmt_ratio(tt), rel or "n/a")
        add(row)
    row = "| **geometric mean** | | | **%s** | |" % fmt_ratio(gm_t)
    if "tsan" in modes:
        row += " | **%s** | |" % fmt_ratio(gm_tsan)
    add(row)
    add("")
    spreads = []
    for r in results:
        w = [x.wall for x in r["timed"]["native"] if x.rc == 0]
        if len(w) > 1:
            spreads.append((max(w) - min(w)) / statistics.median(w))
    if spreads:
        add("Run-to-run noise: the native runs of a workload spread by %.0f%% (median over workloads; "
            "max %.0f%%) of their median, (max - min) / median. The VM's speed varies from run to run "
            "(the same single-threaded barnes took 2.5-3.8 s of user time in successive runs), so "
            "ratios within about 10%% of 1 are not resolved by a handful of runs." % (
                100 * statistics.median(spreads), 100 * max(spreads)))
        add("")
    add("Every run's wall time (user and system CPU time of every run are in `target/bench/results.json`):")
    add("")
    for r in results:
        s = summaries[r["name"]]
        add("* %s: %s" % (r["name"], "; ".join("%s %s" % (MODE_TITLE[m], ", ".join(
            "%.3f" % x for x in s[m]["walls"])) for m in modes)))
    add("")
    add("### Memory (peak PSS of the process tree)")
    add("")
    head = ("| workload | native MiB | PUSh MiB | PUSh/native | PUSh - native MiB | of which `push-wait` MiB "
            "| PUSh program alone / native |")
    sep = "| --- | --- | --- | --- | --- | --- | --- |"
    if "tsan" in modes:
        head += " TSan MiB | TSan/native |"
        sep += " --- | --- |"
    add(head)
    add(sep)
    for r in results:
        s = summaries[r["name"]]
        n, p = s["native"]["pss_mib"], s["push"]["pss_mib"]
        prog = s["push"].get("program_pss_mib")
        row = "| %s | %s | %s | %s | %s | %s | %s |" % (
            r["name"], fmt(n, 1), fmt(p, 1), fmt_ratio(s["push"]["pss_ratio"]),
            fmt(p - n if n and p else None, 1), fmt(s["push"].get("launcher_mib"), 1),
            fmt_ratio(prog / n if prog and n else None))
        if "tsan" in modes:
            row += " %s | %s |" % (fmt(s["tsan"]["pss_mib"], 1), fmt_ratio(s["tsan"]["pss_ratio"]))
        add(row)
    gm_prog = geomean([summaries[r["name"]]["push"].get("program_pss_mib", 0) / summaries[r["name"]]["native"]["pss_mib"]
                       for r in results if summaries[r["name"]]["native"]["pss_mib"]])
    row = "| **geometric mean** | | | **%s** | | | %s |" % (fmt_ratio(gm_m), fmt_ratio(gm_prog))
    if "tsan" in modes:
        row += " | **%s** |" % fmt_ratio(gm_tsan_m)
    add(row)
    add("")

    if any(r.get("push_stats") for r in results):
        add("### PUSh runtime statistics (`push run --verbose 1`, memory run)")
        add("")
        keys = []
        for r in results:
            for k in (r.get("push_stats") or {}):
                if k not in keys:
                    keys.append(k)
        shown = [k for k in ("threads", "faults", "silent_fixes", "rehashes", "owners_moved", "objects_rekeyed",
                             "sync_objects_with_clocks", "sync_clock_bytes") if k in keys]
        add("A fault is a protection-key fault taken by an allowed access (a stale PKRU, a lock call on "
            "an object whose key changed, or the first accesses after a policy change, checked against "
            "happens-before); `silent_fixes` of them were resolved by fixing the thread's PKRU, the "
            "rest single-stepped. Every statistic the runtime printed is in `target/bench/results.json`.")
        add("")
        add("| workload | " + " | ".join(shown) + " |")
        add("| --- | " + " | ".join("---" for _ in shown) + " |")
        for r in results:
            st = r.get("push_stats") or {}
            add("| %s | %s |" % (r["name"], " | ".join(st.get(k, "") for k in shown)))
        add("")

    if "auto" in modes:
        L.extend(auto_section(opts, info, modes, results, summaries))
    if debian:
        L.extend(debian_section(debian))

    if helgrind:
        add("### Helgrind (smaller inputs)")
        add("")
        add("Helgrind is run on each workload's small Helgrind input (one run), against a native run "
            "of the same input: a full input would take hours under Helgrind.")
        add("")
        add("| workload | input | native s | Helgrind s | Helgrind/native | native MiB | Helgrind MiB | "
            "Helgrind/native PSS | errors reported | checksum |")
        add("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        hg_t, hg_m = [], []
        for name, h in helgrind.items():
            n, g = h["native"], h["helgrind"]
            tr = g.wall / n.wall if n.wall else None
            mr = g.pss_kib / n.pss_kib if n.pss_kib and g.pss_kib else None
            hg_t.append(tr)
            hg_m.append(mr)
            add("| %s | `%s` | %.3f | %.2f | %s | %s | %s | %s | %s | %s |" % (
                name, " ".join(h["args"]), n.wall, g.wall, fmt_ratio(tr), fmt((n.pss_kib or 0) / 1024, 1),
                fmt((g.pss_kib or 0) / 1024, 1), fmt_ratio(mr), g.helgrind_errors,
                "same" if g.checksum == n.checksum else "DIFFERS"))
        add("| **geometric mean** | | | | **%s** | | | **%s** | | |" % (fmt_ratio(geomean(hg_t)), fmt_ratio(geomean(hg_m))))
        add("")

    if micro:
        add("## Microbenchmarks (`benchmarks/micro/micro.c %s`, median of %d)" % (" ".join(micro["args"]), micro["runs"]))
        add("")
        add("ns per operation. `violation_reported` is one forbidden access per object, each "
            "reported (natively and under TSan it is a plain store). `cache_miss` and "
            "`cache_miss_with_wrpkru` measure the machine, not PUSh: a loop of independent cache "
            "misses without and with one WRPKRU per iteration.")
        add("")
        head = "| operation | native ns | PUSh ns | PUSh - native ns | PUSh/native |"
        sep = "| --- | --- | --- | --- | --- |"
        if "tsan" in micro["median"]:
            head += " TSan ns | TSan/native |"
            sep += " --- | --- |"
        add(head)
        add(sep)
        for k in micro["names"]:
            n = micro["median"]["native"].get(k)
            p = micro["median"].get("push", {}).get(k)
            row = "| %s | %s | %s | %s | %s |" % (k, fmt(n, 1), fmt(p, 1), fmt(p - n if n is not None and p is not None else None, 1),
                                                  fmt_ratio(p / n if n and p else None))
            if "tsan" in micro["median"]:
                t = micro["median"]["tsan"].get(k)
                row += " %s | %s |" % (fmt(t, 1), fmt_ratio(t / n if n and t else None))
            add(row)
        add("")

    add("## Scaling")
    add("")
    if scaling.get("skipped"):
        add("Scaling table skipped: " + scaling["skipped"])
    else:
        counts = scaling["counts"]
        add("Wall time (s), one run each; PUSh/native in parentheses.")
        add("")
        add("| workload | " + " | ".join("%d threads" % c for c in counts) + " |")
        add("| --- | " + " | ".join("---" for _ in counts) + " |")
        for name, row in scaling["rows"].items():
            cells = []
            for c in counts:
                n, p = row.get(c, (None, None))
                cells.append("%s / %s (%s)" % (fmt(n, 3), fmt(p, 3), fmt_ratio(p / n if n and p else None)))
            add("| %s | %s |" % (name, " | ".join(cells)))
    add("")
    add("## Chart")
    add("")
    add(chart_note)
    add("")
    add("## Where PUSh costs more, and why")
    add("")
    add(analysis(results, summaries, modes, gm_t, worst_t, gm_m, worst_m, tsan_vs, micro))
    add("")
    with open(path, "w") as f:
        f.write("\n".join(L))


def backend_note(opts, info):
    """Which backend the PUSh runs used, and whether their times mean anything
    for the targets (which are about protection keys)."""
    if opts.backend == "mprotect" or not info["pku"]:
        return ("**Measured on the portable `mprotect` backend%s**: every first access to a watched object "
                "after a change of hands is a fault and `mprotect` calls; the times do not represent the "
                "protection-key hardware the targets are meant for. The 15%% geometric-mean target and the "
                "TSan ratio must be measured on a machine with PKU: `python3 benchmarks/bench.py --auto "
                "--backend mpk --no-micro` (full inputs, 5 runs) or `--quick --auto --backend mpk` for a "
                "smoke test." % ("" if info["pku"] else " (this machine has no protection keys)"))
    return "Backend: %s (protection keys available here)." % (opts.backend or "auto")


def auto_section(opts, info, modes, results, summaries):
    """RESULTS.md's section on `push run --auto` over the unannotated workloads."""
    L = []
    add = L.append
    S = lambda n: summaries[n]  # noqa: E731
    names = [r["name"] for r in results if "auto" in summaries[r["name"]] and summaries[r["name"]]["auto"]["walls"]]
    ok = [n for n in names if not any(p for p in next(r for r in results if r["name"] == n).get("auto_failures", [])
                                      if p["problems"] or p["reports"])]
    ref = "plain" if "plain" in modes else "native"
    add("## Annotation-free mode (--auto)")
    add("")
    add("The same workloads built **without** annotations (`gcc %s -DPUSH_ANNOTATIONS_OFF`: common.h defines "
        "every push.h call away; `target/bench/NAME.plain`, which references no `push_*` symbol), run "
        "natively (*unannotated native*, the reference of the `--auto` ratios) and under `push run --auto%s "
        "--` (%s). Checks: exit 0, no `WARNING: PUSh` on stderr, the checksum of the annotated native run." % (
            " ".join(c if c != INCLUDE else "include" for c in CFLAGS), (" " + " ".join(AUTO_FLAGS)) if AUTO_FLAGS else "",
            "quick mode: one run each, small inputs" if opts.quick else
            "%d timed runs each, medians" % opts.runs))
    add("")
    add(backend_note(opts, info))
    add("")
    auto_t = [S(n)["auto"]["time_ratio_ref"] for n in ok]
    auto_m = [S(n)["auto"]["pss_ratio_ref"] for n in ok]
    gm_a, gm_am = geomean(auto_t), geomean(auto_m)
    gm_ts = geomean([S(n)["tsan"]["time_ratio"] for n in ok]) if "tsan" in modes else None
    gm_p = geomean([S(n)["push"]["time_ratio"] for n in ok]) if "push" in modes else None
    rel = None
    if gm_a and gm_ts:
        rel = float("inf") if gm_a <= 1 else (gm_ts - 1) / (gm_a - 1)
    gm_plain = geomean([S(n)["plain"]["wall"] / S(n)["native"]["wall"] for n in names
                        if "plain" in modes and S(n)["plain"]["wall"] and S(n)["native"]["wall"]])
    add("| measure (over the %d of %d workloads that passed under --auto%s) | --auto | target | | PUSh annotated | TSan |" % (
        len(ok), len(results), (": " + ", ".join(ok)) if len(ok) < len(results) else ""))
    add("| --- | --- | --- | --- | --- | --- |")
    add("| time / %s, geometric mean | %s (%s) | <= %s | %s | %s | %s |" % (
        "unannotated native" if ref == "plain" else "native", fmt_ratio(gm_a), pct(gm_a), pct(BAR_AUTO_TIME_GEOMEAN),
        "n/a" if gm_a is None else ("**holds**" if gm_a <= BAR_AUTO_TIME_GEOMEAN else "**missed**"),
        fmt_ratio(gm_p), fmt_ratio(gm_ts)))
    add("| TSan time overhead / --auto time overhead (geomeans, overhead = ratio - 1) | %s | >= %.0f | %s | | |" % (
        "n/a" if rel is None else ("infinite" if rel == float("inf") else "%.1f" % rel), BAR_TSAN_VS_AUTO,
        "n/a" if rel is None else ("**holds**" if rel >= BAR_TSAN_VS_AUTO else "**missed**")))
    add("| PSS / %s, geometric mean | %s (%s) | | | %s | %s |" % (
        "unannotated native" if ref == "plain" else "native", fmt_ratio(gm_am), pct(gm_am),
        fmt_ratio(geomean([S(n)["push"]["pss_ratio"] for n in ok])) if "push" in modes else "n/a",
        fmt_ratio(geomean([S(n)["tsan"]["pss_ratio"] for n in ok])) if "tsan" in modes else "n/a"))
    add("")
    if gm_plain:
        add("Unannotated native / annotated native time, geometric mean: %s (the annotations cost nothing "
            "natively: push.h's weak symbols are null there)." % fmt_ratio(gm_plain))
        add("")
    head = "| workload | native s | unannotated native s | --auto s | --auto / unannotated | PUSh / native |"
    sep = "| --- | --- | --- | --- | --- | --- |"
    if "tsan" in modes:
        head += " TSan / native | TSan overhead / --auto overhead |"
        sep += " --- | --- |"
    head += " native MiB | unannotated MiB | --auto MiB | --auto / unannotated PSS | result |"
    sep += " --- | --- | --- | --- | --- |"
    add(head)
    add(sep)
    for r in results:
        n = r["name"]
        s = S(n)
        if "auto" not in s:
            continue
        a = s["auto"]
        fails = r.get("auto_failures", [])
        if not a["walls"]:
            status = "not run"
        elif not fails:
            status = "ok"
        else:
            status = "; ".join(sorted(set(p for f in fails for p in f["problems"]))) or "reported"
        row = "| %s | %s | %s | %s | %s | %s |" % (
            n, fmt(s["native"]["wall"], 3), fmt(s.get("plain", {}).get("wall"), 3), fmt(a["wall"], 3),
            fmt_ratio(a["time_ratio_ref"]), fmt_ratio(s["push"]["time_ratio"]) if "push" in s else "n/a")
        if "tsan" in modes:
            tt = s["tsan"]["time_ratio"]
            at = a["time_ratio_ref"]
            rr = None
            if tt and at:
                rr = "infinite (--auto not slower)" if at <= 1 else "%.1f" % ((tt - 1) / (at - 1))
            row += " %s | %s |" % (fmt_ratio(tt), rr or "n/a")
        row += " %s | %s | %s | %s | %s |" % (
            fmt(s["native"]["pss_mib"], 1), fmt(s.get("plain", {}).get("pss_mib"), 1), fmt(a["pss_mib"], 1),
            fmt_ratio(a["pss_ratio_ref"]), status)
        add(row)
    add("")
    if any(r.get("auto_stats") for r in results):
        keys = ["watched", "learned", "given_up", "sampled_out", "system_allocs", "unwatchable"]
        add("`--auto` statistics (`--verbose 1`, memory run), with the runtime's fault and `mprotect` counts:")
        add("")
        add("| workload | " + " | ".join(keys) + " | faults | mprotect_calls |")
        add("| --- | " + " | ".join("---" for _ in keys) + " | --- | --- |")
        for r in results:
            st = r.get("auto_stats") or {}
            mem = r["memory"].get("auto") or []
            ps = mem[0].push_stats if mem else {}
            add("| %s | %s | %s | %s |" % (r["name"], " | ".join(st.get(k, "") for k in keys),
                                         ps.get("faults", ""), ps.get("mprotect_calls", "")))
        add("")
    failed = [r for r in results if r.get("auto_failures")]
    if failed:
        add("Failures under `--auto` (each failing run's whole stderr is in the file named):")
        add("")
        for r in failed:
            for f in r["auto_failures"]:
                add("* **%s** (%s run): %s; exit %s%s, checksum %s, %d report(s); `%s`" % (
                    r["name"], f["kind"], "; ".join(f["problems"]) or "reported", f["rc"],
                    " (timed out)" if f["timed_out"] else "", f["checksum"] or "none", f["reports"],
                    f["stderr_file"]))
                if f.get("first_report"):
                    add("")
                    add("  ```")
                    for line in f["first_report"].splitlines()[:30]:
                        add("  " + line)
                    add("  ```")
        add("")
    return L


def small_objects(name, args):
    """Tracked objects of a workload that are small (one per molecule or
    bucket), each with a protecting lock of its own; 0 for the others."""
    if name == "md":
        return int(args[0])
    if name == "kv":
        return int(args[1]) if len(args) > 1 else 8192
    return 0


def analysis(results, summaries, modes, gm_t, worst_t, gm_m, worst_m, tsan_vs, micro):
    """Measured explanations: which workloads miss which bar, and the costs
    behind them."""
    out = []
    S = lambda n: summaries[n]  # noqa: E731
    over_t = [(r["name"], S(r["name"])["push"]["time_ratio"]) for r in results
              if (S(r["name"])["push"]["time_ratio"] or 0) > BAR_TIME_WORST]
    over_m = [(r["name"], S(r["name"])["push"]["pss_ratio"]) for r in results
              if (S(r["name"])["push"]["pss_ratio"] or 0) > BAR_PSS_WORST]
    fixed = [S(r["name"])["push"]["pss_mib"] - S(r["name"])["native"]["pss_mib"]
             for r in results if S(r["name"])["push"]["pss_mib"] and S(r["name"])["native"]["pss_mib"]
             and not small_objects(r["name"], r["args"])]
    launcher = [x for x in (S(r["name"])["push"].get("launcher_mib") for r in results) if x]
    if micro and "push" in micro["median"]:
        m = micro["median"]

        def d(k):
            a, b = m["native"].get(k), m["push"].get(k)
            return None if a is None or b is None else b - a
        parts = []
        for k, what in (("mutex_lock_unlock", "a lock/unlock pair of a lock that protects nothing"),
                        ("mutex_lock_unlock_protecting", "of a lock that protects an object (PKRU switched)"),
                        ("push_malloc_free", "a push_malloc/push_free pair"),
                        ("policy_change", "a readonly/private pair of policy changes on a small object"),
                        ("policy_change_1MiB", "the same on a 1 MiB object, touched after each pair"),
                        ("violation_reported", "a reported violation")):
            if d(k) is not None:
                parts.append("%s: %+.0f ns" % (what, d(k)))
        if parts:
            out.append("* **Per-operation costs** (microbenchmarks, PUSh minus native): " + "; ".join(parts) +
                       ". Everything else runs at native speed: PUSh adds nothing to an access its policy allows.")
        miss, miss_wr = m["native"].get("cache_miss"), m["native"].get("cache_miss_with_wrpkru")
        if miss and miss_wr:
            out.append("* **A PKRU switch waits for the loads in flight.** A loop of independent cache misses "
                       "takes %.0f ns per iteration here, %.0f ns with one WRPKRU per iteration "
                       "(`cache_miss`, `cache_miss_with_wrpkru`, no PUSh involved): WRPKRU does not let "
                       "later loads start before earlier ones complete, so where a program keeps misses in "
                       "flight each switch exposes a whole memory latency, not WRPKRU's ~14 ns. Protection "
                       "keys cost that at every acquisition and release of a lock that protects something; "
                       "memory-bound, lock-per-operation code (kv, md) pays it at each operation."
                       % (miss, miss_wr))
    if fixed:
        out.append("* **Fixed memory cost.** On the workloads with few, large tracked objects PUSh adds "
                   "%.1f-%.1f MiB of PSS, %.1f MiB of it the `push-wait` process that `push run` "
                   "leaves waiting for the program (the rest: "
                   "libpush.so's pages and the runtime's tables, touched lazily). Against inputs of tens "
                   "to hundreds of MiB that is a few percent; it would dominate a program of a few MiB. "
                   "`LD_PRELOAD=target/release/libpush.so` instead of `push run` saves that process." % (
                       min(fixed), max(fixed), statistics.median(launcher) if launcher else 0))
    for name, ratio in over_t:
        out.append("* **%s: time %s, over the worst-case bar (%s).** %s%s" % (
            name, fmt_ratio(ratio), pct(BAR_TIME_WORST), TIME_NOTES.get(name, ""), stats_note(name, results)))
    for r in results:
        name = r["name"]
        if name in dict(over_t):
            continue
        t = S(name)["push"]["time_ratio"]
        if t and t > BAR_TIME_GEOMEAN and name in TIME_NOTES:
            out.append("* **%s: time %s** (within the worst-case bar). %s%s" % (
                name, fmt_ratio(t), TIME_NOTES[name], stats_note(name, results)))
    for name, ratio in over_m:
        s = S(name)
        r = next(x for x in results if x["name"] == name)
        n = small_objects(name, r["args"])
        delta = s["push"]["pss_mib"] - s["native"]["pss_mib"]
        base = statistics.median(fixed) if fixed else 0
        rest = delta - base
        out.append("* **%s: PSS %s (+%.1f MiB), over the worst-case bar (%s).** %d small tracked objects, "
                   "each with its own lock, on an input of %.1f MiB: the fixed cost above is %.1f MiB; the "
                   "remaining %.1f MiB (%.2f KiB per object) is per object and per lock: 32 bytes of object "
                   "metadata, the rounding of the object to its size class (objects share physical pages, "
                   "as the native heap packs them), the lock's happens-before clock (64 bytes) and its "
                   "entries in two lock tables (16 bytes each), and the table pages those touch." % (
                       name, fmt_ratio(ratio), delta, pct(BAR_PSS_WORST), n, s["native"]["pss_mib"], base,
                       rest, rest * 1024 / n if n else 0))
    if gm_t is not None and gm_t > BAR_TIME_GEOMEAN:
        good = [r["name"] for r in results if r["name"] not in dict(over_t)]
        g = geomean([S(n)["push"]["time_ratio"] for n in good])
        out.append("* **Time geometric mean %s misses %s.** Without the workloads over the worst-case "
                   "bar (%s) it is %s (%s)." % (fmt_ratio(gm_t), pct(BAR_TIME_GEOMEAN),
                                                ", ".join(n for n, _ in over_t) or "none", fmt_ratio(g), pct(g)))
    if gm_m is not None and gm_m > BAR_PSS_GEOMEAN:
        good = [r["name"] for r in results if r["name"] not in dict(over_m)]
        g = geomean([S(n)["push"]["pss_ratio"] for n in good])
        gp = geomean([S(n)["push"].get("program_pss_mib", 0) / S(n)["native"]["pss_mib"] for n in good
                      if S(n)["native"]["pss_mib"]])
        out.append("* **PSS geometric mean %s misses %s.** Without the small-object workloads (%s) it is "
                   "%s (%s): the fixed cost above, on inputs of 25-130 MiB. Counting the program's own "
                   "process only (no `push-wait`, as under `LD_PRELOAD`) it is %s (%s)." % (
                       fmt_ratio(gm_m), pct(BAR_PSS_GEOMEAN), ", ".join(n for n, _ in over_m) or "none",
                       fmt_ratio(g), pct(g), fmt_ratio(gp), pct(gp)))
    out.append("* Small tracked objects are packed: each has a virtual page of its own, but objects of "
               "up to 2 KiB share physical pages by size class (`benchmarks/memory.py` measures 200,000 "
               "of them). md and kv annotate one object per molecule / per bucket; large arrays are "
               "annotated one object per array or per thread's block, as a user would.")
    return "\n".join(out)


def stats_note(name, results):
    r = next(x for x in results if x["name"] == name)
    st = r.get("push_stats") or {}
    keys = [k for k in ("faults", "silent_fixes", "sync_objects_with_clocks") if k in st]
    if not keys:
        return ""
    return " (Runtime statistics of the memory run: %s.)" % ", ".join("%s=%s" % (k, st[k]) for k in keys)


# What PUSh does in each workload that costs time, as measured (perf, the
# runtime's statistics, the microbenchmarks) on the machine of RESULTS.md.
TIME_NOTES = {
    "kv": "Every operation takes a bucket lock, and every bucket lock lives inside the tracked bucket it "
          "protects. Under PUSh an acquisition looks up the lock word's object (32-byte metadata) and "
          "its alias (glibc is given the word's second, always writable address: no grant), the "
          "lock's domain (a 16-byte lock-table entry) and its happens-before clock (64 bytes), switches "
          "PKRU once after the acquisition, and once more after the release: two WRPKRU per "
          "operation (~14 ns each here, and each waits for the cache misses in flight). With 8192 "
          "distinct locks those per-lock lines and the buckets, each on a virtual page of its own "
          "(8192 pages instead of ~1100: TLB misses), do not stay in the caches, so an operation that "
          "takes ~35-70 ns natively takes a few hundred (perf, measured before lock words had an "
          "alias: the runtime's lock window, glibc's trylock on the cold bucket, the clock join). On a hot lock the same pair costs ~90 ns more "
          "than native; a lock protecting an object but not inside it costs the two WRPKRU only.",
    "md": "Each step takes every molecule's lock once per thread (force accumulation) and once more "
          "(update): 4096 distinct protecting locks, each inside its own tracked object, with the "
          "per-lock costs of kv; the force computation itself runs at native speed.",
    "lu": "Each of the 4096 blocks changes policy once or twice (push_transfer, push_readonly). After a "
          "change the block sits on a validation key until another thread's first access has been "
          "checked against happens-before (rule 2): that access faults once (~5-10 us) and re-keys the "
          "block (pkey_mprotect, a TLB shoot-down on the other CPU). The owner's own reads of its fresh "
          "read-only blocks fault once per synchronization (a read grant on the validation key until "
          "its next acquire), no longer up to 15 times per block; lu still takes ~10,000 faults and "
          "twice as many pkey_mprotect calls on 8 KiB blocks in about a second, so most of its extra "
          "time is system time.",
    "fft": "Each thread changes the policy of its 32 MiB bands six times per transform: a policy change "
           "rewrites the protection key of every page of the object (pkey_mprotect walks the page "
           "table and shoots down the other CPU's TLB: see `policy_change_1MiB`), and the changing "
           "thread's first accesses after a change fault before the object settles (see lu).",
    "radix": "Each pass, each thread makes its 32 MiB local copy read-only and takes it back, and grows "
             "its chunk with push_realloc: the per-page cost of policy changes on large objects (see "
             "fft and `policy_change_1MiB`).",
    "pipeline": "Every 256 KiB buffer changes hands five times per chunk (release, acquire, release, "
                "acquire, transfer), each change re-keying its 65 pages; the queue locks protect their "
                "queues (PKRU switches).",
    "ocean": "Four small edge buffers change policy per thread per sweep; the bands stay private.",
    "kmeans": "One policy change pair per iteration (the centroids); the accumulator's lock protects it.",
    "barnes": "Two policy changes per thread per step on the body blocks and one pair on the tree.",
}


# ---------------------------------------------------------------- chart

def ensure_matplotlib():
    try:
        import matplotlib  # noqa: F401
        return None
    except ImportError:
        pass
    log("matplotlib missing: pip install --quiet matplotlib")
    r = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "matplotlib"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        return "pip install matplotlib failed: " + r.stdout.strip()[-300:]
    try:
        import importlib
        importlib.invalidate_caches()
        import matplotlib  # noqa: F401
        return None
    except ImportError as e:
        return "matplotlib still not importable after pip install: %s" % e


def write_chart(path, results, summaries, modes, helgrind):
    err = ensure_matplotlib()
    if err:
        return "No chart: " + err
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except Exception as e:  # noqa: BLE001
        return "No chart: matplotlib failed to load: %s" % e
    names = [r["name"] for r in results]
    labels = names + ["geomean"]
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(11, 8.5))
    colours = {"push": "#1f77b4", "tsan": "#d62728", "helgrind": "#7f7f7f", "auto": "#2ca02c"}
    two_digits = lambda v: ("%.2f" % v) if v < 10 else ("%.0f" % v)  # noqa: E731

    def groups(key, helgrind_ratio, helgrind_fmt):
        """(legend, colour, values with the geomean last, label format) per bar series."""
        out = []
        for m in modes:
            if m not in ("native", "plain"):
                vals = [summaries[n][m][key] or 0 for n in names]
                out.append((MODE_TITLE[m], colours[m],
                            vals + [geomean([summaries[n][m][key] for n in names]) or 0], two_digits))
        if helgrind:
            hv = [helgrind_ratio(helgrind[n]) if n in helgrind else 0 for n in names]
            out.append(("Helgrind (small input)", colours["helgrind"], hv + [geomean(hv) or 0], helgrind_fmt))
        return out

    def panel(ax, series, bar, bar_label, ylabel, title):
        width = 0.8 / len(series)
        for i, (legend, colour, vals, fmt_v) in enumerate(series):
            xs = [j + (i - (len(series) - 1) / 2) * width for j in range(len(labels))]
            bars = ax.bar(xs, vals, width, label=legend, color=colour)
            for b, v in zip(bars, vals):
                ax.annotate(fmt_v(v), (b.get_x() + b.get_width() / 2, v), ha="center", va="bottom", fontsize=7)
        ax.set_yscale("log")
        ax.axhline(1.0, color="black", linewidth=0.8)
        ax.axhline(bar, color="#1f77b4", linewidth=0.8, linestyle="--", label=bar_label)
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.set_xticks(range(len(labels)))
        ax.set_xticklabels(labels)
        ax.set_ylim(top=ax.get_ylim()[1] * 6)
        ax.legend(fontsize=8, loc="upper left", ncol=4)

    def pss_ratio(h):
        n, g = h["native"].pss_kib, h["helgrind"].pss_kib
        return g / n if n and g else 0

    panel(ax1, groups("time_ratio", lambda h: h["helgrind"].wall / h["native"].wall, lambda v: "%.0f" % v),
          BAR_TIME_WORST, "PUSh worst-case bar (1.25x)", "time / native (log)",
          "Time overhead vs native (median wall time)")
    panel(ax2, groups("pss_ratio", pss_ratio, two_digits),
          BAR_PSS_WORST, "PUSh worst-case bar (1.5x)", "peak PSS / native (log)",
          "Memory overhead vs native (peak PSS of the process tree)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return "![overheads](overheads.png)\n\n`benchmarks/overheads.png`: time and peak-PSS ratios to native, log scale."


# ---------------------------------------------------------------- scaling

def run_scaling(opts, workloads, info):
    cores = info["usable_cores"]
    counts = [c for c in (2, 4, 8, 16) if c <= cores]
    if len(counts) < 2:
        return {"skipped": "this machine has %d usable core%s; the 2/4/8/16-thread table needs at least 4 "
                           "(and 16 for every column), since more threads than cores measure time slicing, "
                           "not scaling." % (cores, "" if cores == 1 else "s")}
    rows = {}
    for w in workloads:
        rows[w.name] = {}
        for c in counts:
            n = run_child(command("native", w.name, w.full, c), TIMEOUT["native"], False)
            p = run_child(command("push", w.name, w.full, c), TIMEOUT["push"], False)
            rows[w.name][c] = (n.wall if n.rc == 0 else None, p.wall if p.rc == 0 and not p.push_reports else None)
            log("    scaling %-8s %2d threads: native %.3f s, PUSh %.3f s" % (w.name, c, n.wall, p.wall))
    return {"counts": counts, "rows": rows}


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description="PUSh vs native vs TSan (vs Helgrind) on the benchmark workloads.")
    ap.add_argument("--quick", action="store_true",
                    help="small inputs, one run per mode, no Helgrind, no chart, no RESULTS.md: a smoke test")
    ap.add_argument("--runs", type=int, default=5, help="timed runs per mode (default 5)")
    ap.add_argument("--tsan-runs", type=int, default=None,
                    help="timed runs under TSan (default: --runs, at most 3; TSan is 5x-45x slower)")
    ap.add_argument("--helgrind", action="store_true", help="also run Helgrind, on smaller inputs (slow)")
    ap.add_argument("--threads", type=int, default=2, help="worker threads (default 2)")
    ap.add_argument("--only", default="", help="comma-separated workloads (%s), Rust ports (%s) or micro" % (
        ",".join(WORKLOAD_NAMES), ",".join(w.name for w in RUST_WORKLOADS)))
    ap.add_argument("--no-micro", action="store_true", help="skip the microbenchmarks")
    ap.add_argument("--no-tsan", action="store_true", help="skip ThreadSanitizer")
    ap.add_argument("--backend", choices=["auto", "mpk", "mprotect"], default=None,
                    help="PUSh's enforcement backend (default: auto, protection keys where available)")
    ap.add_argument("--wait-idle", type=float, default=None, metavar="SECONDS",
                    help="before each run wait up to SECONDS for the machine to be idle (other processes "
                         "under a quarter of a core); default 60, 0 in quick mode")
    ap.add_argument("--scaling", choices=["auto", "off"], default="auto",
                    help="2/4/8/16-thread table when the machine has the cores (default auto; off in quick mode)")
    ap.add_argument("--auto", action="store_true",
                    help="also build each workload without annotations (-DPUSH_ANNOTATIONS_OFF) and run it "
                         "natively and under `push run --auto` (docs/auto.md)")
    ap.add_argument("--auto-flags", default="", metavar="FLAGS",
                    help="extra `push run` flags of the auto mode, e.g. '--sample 0.5'")
    ap.add_argument("--debian", action="store_true",
                    help="also run xz -T2, zstd -T2 and pigz -p 2 (those installed) on a generated file, "
                         "natively and under `push run --auto` (with --only debian: only that)")
    ap.add_argument("--debian-mib", type=int, default=20, metavar="MIB",
                    help="size of the generated input of --debian (default 20)")
    ap.add_argument("--out", default=None,
                    help="where to write the report (default: benchmarks/RESULTS.md for a full run of "
                         "everything, else target/bench/RESULTS-<mode>.md)")
    opts = ap.parse_args()
    global BACKEND, AUTO_FLAGS
    BACKEND = opts.backend
    AUTO_FLAGS = opts.auto_flags.split()
    opts.argv = sys.argv[1:]
    if opts.wait_idle is None:
        opts.wait_idle = 0.0 if opts.quick else 60.0
    if opts.tsan_runs is None:
        opts.tsan_runs = min(opts.runs, 3)
    opts.tsan_runs = max(1, min(opts.tsan_runs, opts.runs))
    if opts.runs < 1 or opts.threads < 1:
        ap.error("--runs and --threads must be at least 1")

    started = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    t_start = time.time()
    for f in (PUSH, LIBPUSH):
        if not os.path.exists(f):
            sys.exit("error: %s not found: run cargo build --release first" % os.path.relpath(f, ROOT))
    if not shutil.which("gcc"):
        sys.exit("error: gcc not found (apt-get install -y gcc)")
    info = machine_info()
    if not info["pku"] and opts.backend == "mpk":
        sys.exit("error: this CPU/kernel has no protection keys (pku/ospke flags): "
                 "the mpk backend cannot run here (use --backend mprotect)")

    only = [x for x in opts.only.split(",") if x]
    if "debian" in only:
        opts.debian = True
    unknown = [x for x in only if x not in [w.name for w in ALL_WORKLOADS] + ["micro", "debian"]]
    if unknown:
        ap.error("unknown workload(s): %s (choose from %s, micro)" % (", ".join(unknown), ", ".join(WORKLOAD_NAMES)))
    workloads = [w for w in ALL_WORKLOADS if (w.name in only if only else not w.rust)]
    do_micro = not opts.no_micro and (not only or "micro" in only)
    full_run = not opts.quick and not only and opts.threads == 2 and not opts.no_tsan and not opts.no_micro
    out_path = opts.out or (os.path.join(BENCH_DIR, "RESULTS.md") if full_run else
                            os.path.join(OUT_DIR, "RESULTS-%s.md" % ("quick" if opts.quick else "partial")))
    if only == ["debian"] and not opts.out:
        out_path = os.path.join(OUT_DIR, "RESULTS-debian%s.md" % ("-quick" if opts.quick else ""))

    os.makedirs(OUT_DIR, exist_ok=True)
    modes = ["native", "push"]
    tsan_note = ""
    if not opts.no_tsan:
        ok, why = tsan_usable()
        if ok:
            modes.append("tsan")
        else:
            tsan_note = "skipped: " + why
            log("TSan " + tsan_note)
    log("machine: %s, %d cores, Linux %s; load average %.2f" % (info["cpu"], info["cores"], info["kernel"],
                                                             loadavg() or 0))
    if opts.auto:
        modes += ["plain", "auto"]
        if not info["pku"] or opts.backend == "mprotect":
            log("note: --auto runs on the mprotect backend here%s: its times do not represent PKU hardware" % (
                "" if info["pku"] else " (no protection keys)"))
    log("building into %s ..." % os.path.relpath(OUT_DIR, ROOT))
    build(workloads, "tsan" in modes, "auto" in modes)

    results, summaries, problems = [], {}, []
    for w in workloads:
        log("== %s %s (%d threads)" % (w.name, " ".join(w.quick if opts.quick else w.full), opts.threads))
        res = run_workload(w, opts, modes)
        results.append(res)
        summaries[w.name] = summarize(res, modes, opts.quick)
        problems += ["%s: %s" % (w.name, p) for p in res["problems"]]
        s = summaries[w.name]
        log("   -> PUSh %s time, %s PSS%s%s" % (
            fmt_ratio(s["push"]["time_ratio"]), fmt_ratio(s["push"]["pss_ratio"]),
            ("; TSan %s time" % fmt_ratio(s["tsan"]["time_ratio"])) if "tsan" in modes else "",
            ("; --auto %s time, %s PSS (to the unannotated native run)" % (
                fmt_ratio(s["auto"].get("time_ratio_ref")), fmt_ratio(s["auto"].get("pss_ratio_ref"))))
            if "auto" in modes and not w.rust else ""))

    helgrind = {}
    if opts.helgrind and not opts.quick:
        if not shutil.which("valgrind"):
            problems.append("--helgrind: valgrind is not installed")
        else:
            log("== Helgrind (small inputs)")
            for w in workloads:
                helgrind[w.name] = run_helgrind(w, opts)
                problems += ["%s (helgrind): %s" % (w.name, p) for p in helgrind[w.name]["problems"]]

    micro = None
    if do_micro:
        log("== micro %s" % " ".join(MICRO_QUICK if opts.quick else MICRO_FULL))
        micro = run_micro(opts, [m for m in modes if m in MODES])
        problems += ["micro: %s" % p for p in micro["problems"]]
        for k in micro["names"]:
            log("    %-30s %s" % (k, "  ".join("%s %8.1f" % (m, micro["median"][m].get(k) or float("nan"))
                                          for m in modes if m in micro["median"])))

    debian = None
    if opts.debian:
        log("== Debian binaries under --auto (%d MiB input)" % opts.debian_mib)
        debian = run_debian(opts)
        debian["quick"] = opts.quick
        problems += ["debian: %s" % p for p in debian["problems"]]

    scaling = {"skipped": "quick mode."} if opts.quick or opts.scaling == "off" else None
    if scaling is None:
        scaling = run_scaling(opts, workloads, info)
    if scaling.get("skipped"):
        log("scaling table skipped: " + scaling["skipped"])

    chart_note = "No chart in quick mode."
    if not opts.quick and results:
        chart_path = os.path.join(BENCH_DIR, "overheads.png") if out_path == os.path.join(BENCH_DIR, "RESULTS.md") \
            else os.path.join(OUT_DIR, "overheads.png")
        chart_note = write_chart(chart_path, results, summaries, modes, helgrind)
        log(chart_note.splitlines()[0] if chart_note.startswith("No chart") else "chart: %s" % os.path.relpath(chart_path, ROOT))

    elapsed = time.time() - t_start
    now_mtime = machine_info().get("libpush_mtime")
    if now_mtime != info.get("libpush_mtime"):
        info["libpush_rebuilt"] = now_mtime
        log("note: libpush.so changed during the run (built %s, now %s)" % (info.get("libpush_mtime"), now_mtime))
    if results:
        write_report(out_path, opts, info, modes, results, summaries, micro, helgrind, scaling, tsan_note,
                     chart_note, started, elapsed, problems, debian)
        log("report: %s" % os.path.relpath(out_path, ROOT))
    elif debian:
        with open(out_path, "w") as f:
            f.write("# PUSh: Debian binaries under --auto\n\nGenerated by `python3 benchmarks/bench.py %s` on %s. "
                    "Machine: %s (PKU: %s), %d cores.\n\n%s\n\n" % (
                        " ".join(opts.argv), started, info["cpu"], "yes" if info["pku"] else "no", info["cores"],
                        backend_note(opts, info)))
            f.write("\n".join(debian_section(debian)))
        log("report: %s" % os.path.relpath(out_path, ROOT))
    raw = {"machine": info, "options": opts.argv, "modes": modes,
           "workloads": [{**{k: v for k, v in r.items() if k not in ("timed", "memory", "one_thread")},
                          "timed": {m: [x.to_json() for x in r["timed"][m]] for m in modes},
                          "memory": {m: [x.to_json() for x in r["memory"][m]] for m in modes},
                          "summary": summaries[r["name"]]} for r in results],
           "helgrind": {k: {"args": v["args"], "native": v["native"].to_json(), "helgrind": v["helgrind"].to_json()}
                        for k, v in helgrind.items()},
           "micro": micro, "scaling": scaling, "problems": problems, "debian": debian}
    with open(os.path.join(OUT_DIR, "results%s.json" % ("-quick" if opts.quick else "")), "w") as f:
        json.dump(raw, f, indent=1, default=str)

    if results and "auto" in modes:
        ok = [r["name"] for r in results if not r.get("auto_failures") and summaries[r["name"]]["auto"]["walls"]]
        log("geomean --auto/unannotated native over %d of %d workloads that passed: time %s, PSS %s" % (
            len(ok), len(results), fmt_ratio(geomean([summaries[n]["auto"]["time_ratio_ref"] for n in ok])),
            fmt_ratio(geomean([summaries[n]["auto"]["pss_ratio_ref"] for n in ok]))))
    if results:
        gm_t = geomean([summaries[r["name"]]["push"]["time_ratio"] for r in results])
        gm_m = geomean([summaries[r["name"]]["push"]["pss_ratio"] for r in results])
        log("geomean PUSh/native: time %s, PSS %s%s" % (
            fmt_ratio(gm_t), fmt_ratio(gm_m),
            ("; TSan time %s" % fmt_ratio(geomean([summaries[r["name"]]["tsan"]["time_ratio"] for r in results])))
            if "tsan" in modes else ""))
    log("done in %.1f s" % elapsed)
    if problems:
        log("%d PROBLEM(S):" % len(problems))
        for p in problems:
            log("  " + p)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
