//! Harness of the PUSh integration tests.
//!
//! The tests compile the small C programs of `tests/c/` with gcc, run them
//! as child processes (natively, under `LD_PRELOAD=libpush.so`, and under
//! `push run`), each with a timeout, and check their exit status, their
//! stdout and the race reports on their stderr (format: `docs/reports.md`).
//!
//! A line of a C program where the runtime must report a forbidden access
//! ends with a marker comment `/* RACE:tag */`; [`marker_line`] finds it, so
//! the expected `file:line` of frame `#0` never has to be hard-coded.

use std::collections::HashMap;
use std::fmt;
use std::fs;
use std::io::Read;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

/// How long a child may run before it is killed and the test fails.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Exit status of a process that reported anything (the `exitcode` default).
pub const RACE_EXIT: i32 = 66;

/// Exit status for malformed options.
pub const BAD_OPTIONS_EXIT: i32 = 2;

/// Exit status `push run` gives for a child killed by SIGSEGV (128 + 11).
pub const CLI_SEGV_EXIT: i32 = 139;

/// Report kind: a forbidden access.
pub const DATA_RACE: &str = "data race";
/// Report kind: a policy change not ordered by happens-before.
pub const UNORDERED_POLICY_CHANGE: &str = "unordered policy change";
/// Report kind: a misused annotation.
pub const ANNOTATION_ERROR: &str = "annotation error";

const WARNING_PREFIX: &str = "WARNING: PUSh: ";
const SUMMARY_PREFIX: &str = "SUMMARY: PUSh:";

// ---------------------------------------------------------------------------
// Paths
// ---------------------------------------------------------------------------

/// The root of the repository (the workspace).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// Cargo's target directory (`CARGO_TARGET_DIR` or `<root>/target`).
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => {
            let dir = PathBuf::from(dir);
            if dir.is_absolute() {
                dir
            } else {
                repo_root().join(dir)
            }
        }
        _ => repo_root().join("target"),
    }
}

fn release_artifact(name: &str) -> PathBuf {
    let path = target_dir().join("release").join(name);
    if !path.is_file() {
        panic!(
            "{} not found: run `cargo build --release` first",
            path.display()
        );
    }
    path
}

/// `target/release/libpush.so`; panics when it has not been built.
pub fn libpush_path() -> PathBuf {
    release_artifact("libpush.so")
}

/// `target/release/push` (the CLI); panics when it has not been built.
pub fn push_cli_path() -> PathBuf {
    release_artifact("push")
}

/// The directory of the C test programs (`tests/c`).
pub fn c_dir() -> PathBuf {
    repo_root().join("tests").join("c")
}

/// The source of a C test program: `name` with or without `.c`, or a path.
pub fn c_source(name: &str) -> PathBuf {
    let p = Path::new(name);
    if p.is_absolute() {
        return p.to_path_buf();
    }
    let file = if name.ends_with(".c") {
        name.to_string()
    } else {
        format!("{name}.c")
    };
    c_dir().join(file)
}

/// The directory with `push.h` (`<root>/include`, or `PUSH_INCLUDE_DIR`).
pub fn include_dir() -> PathBuf {
    match std::env::var_os("PUSH_INCLUDE_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => repo_root().join("include"),
    }
}

static UNIQUE: AtomicUsize = AtomicUsize::new(0);

fn unique_suffix() -> String {
    format!(
        "{}-{}",
        std::process::id(),
        UNIQUE.fetch_add(1, Ordering::Relaxed)
    )
}

/// A fresh, empty directory under `target/c-tests/tmp/` for one test.
pub fn scratch_dir(label: &str) -> PathBuf {
    let dir = target_dir()
        .join("c-tests")
        .join("tmp")
        .join(format!("{label}-{}", unique_suffix()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    dir
}

// ---------------------------------------------------------------------------
// Compiling the C programs
// ---------------------------------------------------------------------------

/// Flags every C test program is compiled with (plus `-I<include_dir>`).
pub const CFLAGS: &[&str] = &[
    "-g",
    "-O1",
    "-fno-omit-frame-pointer",
    "-pthread",
    "-Wall",
    "-Wextra",
];

fn mtime(path: &Path) -> Option<SystemTime> {
    fs::metadata(path).and_then(|m| m.modified()).ok()
}

fn is_up_to_date(out: &Path, inputs: &[PathBuf]) -> bool {
    let Some(built) = mtime(out) else {
        return false;
    };
    inputs.iter().all(|input| match mtime(input) {
        Some(t) => t <= built,
        None => true,
    })
}

/// Compiles `tests/c/<name>.c` into `target/c-tests/<name>/<name>` and
/// returns the binary. Safe when tests run in parallel, in one process or in
/// several: each compilation writes a private file and renames it into place.
/// A binary newer than its inputs (the source, `common.h`, `push.h`) is
/// reused.
pub fn compile_c(name: &str) -> PathBuf {
    static BUILT: OnceLock<Mutex<HashMap<String, PathBuf>>> = OnceLock::new();
    let src = c_source(name);
    let stem = src
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_else(|| panic!("bad C program name {name:?}"))
        .to_string();

    let built = BUILT.get_or_init(|| Mutex::new(HashMap::new()));
    // One compilation at a time per process: the machine has few cores.
    let mut built = built.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(bin) = built.get(&stem) {
        return bin.clone();
    }

    assert!(src.is_file(), "C test program {} not found", src.display());
    let include = include_dir();
    let header = include.join("push.h");
    assert!(
        header.is_file(),
        "{} not found (the C API header)",
        header.display()
    );
    let out_dir = target_dir().join("c-tests").join(&stem);
    fs::create_dir_all(&out_dir)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", out_dir.display()));
    let bin = out_dir.join(&stem);
    let inputs = [src.clone(), c_dir().join("common.h"), header];

    if !is_up_to_date(&bin, &inputs) {
        let tmp = out_dir.join(format!(".{stem}.tmp-{}", unique_suffix()));
        let mut cmd = Command::new("gcc");
        cmd.args(CFLAGS)
            .arg(format!("-I{}", include.display()))
            .arg("-o")
            .arg(&tmp)
            .arg(&src);
        let out = cmd
            .output()
            .unwrap_or_else(|e| panic!("cannot run gcc (is it installed?): {e}"));
        if !out.status.success() {
            let _ = fs::remove_file(&tmp);
            panic!(
                "compiling {} failed ({}):\n{}{}",
                src.display(),
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        fs::rename(&tmp, &bin)
            .unwrap_or_else(|e| panic!("cannot move {} to {}: {e}", tmp.display(), bin.display()));
    }
    built.insert(stem, bin.clone());
    bin
}

// ---------------------------------------------------------------------------
// Running child processes
// ---------------------------------------------------------------------------

/// What a child process did.
#[derive(Debug, Clone)]
pub struct RunResult {
    /// The command line, for messages.
    pub command: String,
    /// Process id of the direct child.
    pub pid: u32,
    /// Exit code, when it exited.
    pub code: Option<i32>,
    /// Terminating signal, when a signal killed it.
    pub signal: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    /// It ran past its timeout and was killed.
    pub timed_out: bool,
}

impl fmt::Display for RunResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "command: {}", self.command)?;
        writeln!(
            f,
            "pid: {}, exit code: {:?}, signal: {:?}, timed out: {}",
            self.pid, self.code, self.signal, self.timed_out
        )?;
        writeln!(f, "----- stdout -----\n{}", self.stdout)?;
        write!(f, "----- stderr -----\n{}------------------", self.stderr)
    }
}

impl RunResult {
    /// Panics (with the output) if the child had to be killed on timeout.
    pub fn expect_finished(self) -> Self {
        if self.timed_out {
            panic!("child process timed out and was killed\n{self}");
        }
        self
    }

    /// The report blocks found on stderr.
    pub fn reports(&self) -> Vec<Report> {
        parse_reports(&self.stderr)
    }

    /// The report blocks of one kind.
    pub fn reports_of(&self, kind: &str) -> Vec<Report> {
        self.reports()
            .into_iter()
            .filter(|r| r.kind == kind)
            .collect()
    }

    /// The `SUMMARY: PUSh:` line, parsed.
    pub fn summary(&self) -> Option<Summary> {
        parse_summary(&self.stderr)
    }

    /// stdout lines.
    pub fn stdout_lines(&self) -> Vec<&str> {
        self.stdout.lines().collect()
    }

    /// Whether some stdout line starts with `prefix`.
    pub fn printed(&self, prefix: &str) -> bool {
        self.stdout.lines().any(|l| l.starts_with(prefix))
    }

    /// The value of `name=N` in the runtime's statistics (the `PUSh: stats:`
    /// lines printed at exit with `verbose=1`), e.g. `stat("live_objects")`;
    /// `None` when no such line has it.
    pub fn stat(&self, name: &str) -> Option<u64> {
        let key = format!("{name}=");
        self.stderr
            .lines()
            .filter(|l| l.starts_with("PUSh: stats:"))
            .flat_map(|l| l.split_whitespace())
            .find_map(|tok| tok.strip_prefix(key.as_str())?.parse().ok())
    }

    /// The value of `name=...` on stdout (the first `name=` token of any
    /// line, up to the next space), e.g. `stdout_value("checksum")`.
    pub fn stdout_value(&self, name: &str) -> Option<&str> {
        let key = format!("{name}=");
        self.stdout
            .lines()
            .flat_map(|l| l.split_whitespace())
            .find_map(|tok| tok.strip_prefix(key.as_str()))
    }
}

fn describe(cmd: &Command) -> String {
    let mut s = String::new();
    for (k, v) in cmd.get_envs() {
        if let Some(v) = v {
            s.push_str(&format!("{}={:?} ", k.to_string_lossy(), v));
        }
    }
    s.push_str(&cmd.get_program().to_string_lossy());
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

fn drain<R: Read + Send + 'static>(pipe: Option<R>) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut p) = pipe {
            let _ = p.read_to_end(&mut buf);
        }
        buf
    })
}

/// `timeout` times `PUSH_TEST_TIMEOUT_SCALE` (default 1): the suite run
/// inside an emulated CPU (scripts/pku-vm.sh) gives its children longer.
pub fn scaled(timeout: Duration) -> Duration {
    let scale = std::env::var("PUSH_TEST_TIMEOUT_SCALE")
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
        .unwrap_or(1)
        .max(1);
    // Under mprotect every first access after a synchronization faults:
    // lock-heavy programs run several times slower.
    let backend_scale = if test_backend() == Backend::Mprotect {
        4
    } else {
        1
    };
    timeout * scale * backend_scale
}

/// Runs `cmd` with stdout and stderr captured and stdin empty, in a process
/// group of its own (so that a timeout kills the CLI and the program it
/// started), without core dumps. Past `timeout` the whole group is killed
/// and the result has `timed_out` set; the `run_*` helpers fail the test on
/// that.
pub fn run_with_timeout(mut cmd: Command, timeout: Duration) -> RunResult {
    let command = describe(&cmd);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    // SAFETY: setrlimit is async-signal-safe; nothing else runs in the child
    // between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            let no_core = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            libc::setrlimit(libc::RLIMIT_CORE, &no_core);
            Ok(())
        });
    }
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start `{command}`: {e}"));
    let pid = child.id();
    let out = drain(child.stdout.take());
    let err = drain(child.stderr.take());

    let deadline = Instant::now() + scaled(timeout);
    let mut timed_out = false;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => {}
            Err(e) => panic!("waiting for `{command}` failed: {e}"),
        }
        if Instant::now() >= deadline {
            timed_out = true;
            // SAFETY: plain syscall; the group id is the child's pid.
            unsafe {
                libc::kill(-(pid as libc::pid_t), libc::SIGKILL);
            }
            let _ = child.kill();
            break child.wait().expect("wait after kill");
        }
        thread::sleep(Duration::from_millis(5));
    };
    // The pipes close when every process holding them is gone. If something
    // the program started outlives it, kill the rest of its group (the group
    // id cannot have been reused while a member still holds the pipes).
    let linger = Instant::now() + Duration::from_secs(2);
    while !(out.is_finished() && err.is_finished()) {
        if Instant::now() >= linger {
            // SAFETY: plain syscall on the child's own process group.
            unsafe {
                libc::kill(-(pid as libc::pid_t), libc::SIGKILL);
            }
            break;
        }
        thread::sleep(Duration::from_millis(5));
    }
    let stdout = String::from_utf8_lossy(&out.join().unwrap_or_default()).into_owned();
    let stderr = String::from_utf8_lossy(&err.join().unwrap_or_default()).into_owned();
    RunResult {
        command,
        pid,
        code: status.code(),
        signal: status.signal(),
        stdout,
        stderr,
        timed_out,
    }
}

/// A command for `program` with no runtime in its environment, run in
/// `target/c-tests` (so that anything it writes lands under target/).
fn base_command(program: &Path) -> Command {
    let workdir = target_dir().join("c-tests");
    let _ = fs::create_dir_all(&workdir);
    let mut cmd = Command::new(program);
    cmd.env_remove("LD_PRELOAD")
        .env_remove("PUSH_OPTIONS")
        .current_dir(workdir);
    cmd
}

/// Runs a program natively, without the runtime.
pub fn run_native(bin: &Path) -> RunResult {
    run_with_timeout(base_command(bin), DEFAULT_TIMEOUT).expect_finished()
}

/// Sets `PUSH_OPTIONS` for a run under the runtime: `options` (from the
/// test, possibly empty) and any `PUSH_OPTIONS` in `env`, plus
/// `backend=<the suite's backend>` unless the test chose one itself.
fn set_runtime_env(cmd: &mut Command, options: &str, env: &[(&str, &str)]) {
    let mut spec: Vec<String> = Vec::new();
    if !options.is_empty() {
        spec.push(options.to_string());
    }
    for (k, v) in env {
        if *k == "PUSH_OPTIONS" {
            if !v.is_empty() {
                spec.push(v.to_string());
            }
        } else {
            cmd.env(k, v);
        }
    }
    let joined = spec.join(":");
    let chooses = joined
        .split([':', ',', ' '])
        .any(|s| s.starts_with("backend="));
    let pinned = std::env::var_os("PUSH_TEST_BACKEND").is_some();
    if !chooses && (pinned || !joined.is_empty()) {
        spec.push(format!("backend={}", test_backend().name()));
    }
    if !spec.is_empty() {
        cmd.env("PUSH_OPTIONS", spec.join(":"));
    }
}

/// Runs a program under `LD_PRELOAD=libpush.so` with `PUSH_OPTIONS=options`
/// (and the suite's backend, see [`test_backend`]).
pub fn run_preload(bin: &Path, options: &str) -> RunResult {
    run_preload_env(bin, options, &[])
}

/// [`run_preload`] with extra environment variables.
pub fn run_preload_env(bin: &Path, options: &str, env: &[(&str, &str)]) -> RunResult {
    let mut cmd = base_command(bin);
    cmd.env("LD_PRELOAD", libpush_path());
    set_runtime_env(&mut cmd, options, env);
    run_with_timeout(cmd, DEFAULT_TIMEOUT).expect_finished()
}

/// Runs `push run <flags> -- bin`.
pub fn run_cli(bin: &Path, flags: &[&str]) -> RunResult {
    run_cli_env(bin, flags, &[])
}

/// [`run_cli`] with extra environment variables (e.g. `PUSH_OPTIONS`).
pub fn run_cli_env(bin: &Path, flags: &[&str], env: &[(&str, &str)]) -> RunResult {
    let mut cmd = base_command(&push_cli_path());
    cmd.arg("run").args(flags).arg("--").arg(bin);
    let flag_chooses = flags.iter().any(|f| f.starts_with("--backend"));
    set_runtime_env(
        &mut cmd,
        if flag_chooses { "backend=auto" } else { "" },
        env,
    );
    run_with_timeout(cmd, DEFAULT_TIMEOUT).expect_finished()
}

/// [`run_native`] with command-line arguments for the program.
pub fn run_native_args(bin: &Path, args: &[&str]) -> RunResult {
    let mut cmd = base_command(bin);
    cmd.args(args);
    run_with_timeout(cmd, DEFAULT_TIMEOUT).expect_finished()
}

/// [`run_preload_env`] with command-line arguments for the program.
pub fn run_preload_args(
    bin: &Path,
    options: &str,
    env: &[(&str, &str)],
    args: &[&str],
) -> RunResult {
    let mut cmd = base_command(bin);
    cmd.args(args).env("LD_PRELOAD", libpush_path());
    set_runtime_env(&mut cmd, options, env);
    run_with_timeout(cmd, DEFAULT_TIMEOUT).expect_finished()
}

/// [`run_cli_env`] with command-line arguments for the program:
/// `push run <flags> -- bin <args>`.
pub fn run_cli_args(bin: &Path, flags: &[&str], env: &[(&str, &str)], args: &[&str]) -> RunResult {
    let mut cmd = base_command(&push_cli_path());
    cmd.arg("run").args(flags).arg("--").arg(bin).args(args);
    set_runtime_env(&mut cmd, "", env);
    run_with_timeout(cmd, DEFAULT_TIMEOUT).expect_finished()
}

/// [`run_mode`] with command-line arguments for the program.
pub fn run_mode_args(mode: Mode, bin: &Path, args: &[&str]) -> RunResult {
    match mode {
        Mode::Preload => run_preload_args(bin, "", &[], args),
        Mode::Cli => run_cli_args(bin, &[], &[], args),
    }
}

// ---------------------------------------------------------------------------
// PKU
// ---------------------------------------------------------------------------

/// Whether the CPU and the kernel support protection keys: the `pku` and
/// `ospke` flags of `/proc/cpuinfo`.
pub fn pku_available() -> bool {
    if std::env::var_os("PUSH_SIMULATE_NO_PKU").is_some_and(|v| v == "1") {
        return false;
    }
    let Ok(cpuinfo) = fs::read_to_string("/proc/cpuinfo") else {
        return false;
    };
    cpuinfo.lines().filter(|l| l.starts_with("flags")).any(|l| {
        let flags: Vec<&str> = l.split_whitespace().collect();
        flags.contains(&"pku") && flags.contains(&"ospke")
    })
}

/// Whether `PUSH_REQUIRE_PKU=1`: missing PKU then fails instead of skipping.
pub fn pku_required() -> bool {
    std::env::var("PUSH_REQUIRE_PKU").is_ok_and(|v| v == "1")
}

/// Whether the suite runs inside the QEMU guest of scripts/pku-vm.sh
/// (an emulated CPU: WRPKRU and faults cost 100x more): time-heavy
/// programs then run with smaller inputs.
pub fn under_emulation() -> bool {
    std::env::var_os("PUSH_PKU_VM").is_some_and(|v| v == "1")
}

/// The enforcement backend the suite runs the runtime with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Mpk,
    Mprotect,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Mpk => "mpk",
            Backend::Mprotect => "mprotect",
        }
    }
}

/// `PUSH_TEST_BACKEND=mpk|mprotect` (scripts/test.sh runs the suite once per
/// backend); unset or `auto`: `mpk` where the CPU has PKU, else `mprotect`.
pub fn test_backend() -> Backend {
    match std::env::var("PUSH_TEST_BACKEND").as_deref() {
        Ok("mpk") => Backend::Mpk,
        Ok("mprotect") => Backend::Mprotect,
        Ok("") | Ok("auto") | Err(_) => {
            if pku_available() {
                Backend::Mpk
            } else {
                Backend::Mprotect
            }
        }
        Ok(other) => panic!("PUSH_TEST_BACKEND={other}: expected mpk, mprotect or auto"),
    }
}

/// Records that the calling test skipped its check, and why: one line
/// in `target/test-skips/<backend>.log` (scripts/test.sh counts them and
/// prints the reasons) and one on stderr. A skipped check is never silent.
pub fn record_skip(reason: &str) {
    let name = thread::current()
        .name()
        .unwrap_or("unnamed test")
        .to_string();
    let exe = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .map(|s| s.rsplit_once('-').map_or(s.clone(), |(a, _)| a.to_string()))
        .unwrap_or_default();
    eprintln!("SKIPPED {exe}::{name}: {reason}");
    let dir = target_dir().join("test-skips");
    let _ = fs::create_dir_all(&dir);
    if let Ok(mut f) = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(format!("{}.log", test_backend().name())))
    {
        use std::io::Write;
        let _ = writeln!(f, "{exe}::{name}\t{reason}");
    }
}

/// At the top of a test that runs programs under the runtime: under the
/// `mpk` backend on a machine without PKU, records a skip and returns
/// (`require_pku!(value)` returns `value`), or panics with
/// `PUSH_REQUIRE_PKU=1`. Under `mprotect` the test runs everywhere.
#[macro_export]
macro_rules! require_pku {
    () => {
        $crate::require_pku!(())
    };
    ($ret:expr) => {
        if $crate::test_backend() == $crate::Backend::Mpk && !$crate::pku_available() {
            if $crate::pku_required() {
                panic!("PUSH_REQUIRE_PKU=1 but this CPU/kernel has no PKU (pku/ospke flags)");
            }
            $crate::record_skip("backend mpk needs a CPU/kernel with PKU");
            return $ret;
        }
    };
}

/// At the top of a test about protection-key mechanics only (WRPKRU
/// counts, silent PKRU fixes, validation-fault counts, key rehashing):
/// under another backend, records a skip with `reason` and returns.
#[macro_export]
macro_rules! mpk_only {
    ($reason:expr) => {
        $crate::mpk_only!($reason, ())
    };
    ($reason:expr, $ret:expr) => {
        $crate::require_pku!($ret);
        if $crate::test_backend() != $crate::Backend::Mpk {
            $crate::record_skip(concat!("mpk mechanics only: ", $reason));
            return $ret;
        }
    };
}

// ---------------------------------------------------------------------------
// Markers
// ---------------------------------------------------------------------------

/// The 1-based line of the unique line of `c_file` (a name in `tests/c` or a
/// path) containing `needle`.
pub fn line_containing(c_file: &str, needle: &str) -> u32 {
    let path = c_source(c_file);
    let text =
        fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let hits: Vec<u32> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| l.contains(needle))
        .map(|(i, _)| i as u32 + 1)
        .collect();
    match hits.as_slice() {
        [line] => *line,
        [] => panic!("{} has no line with {needle:?}", path.display()),
        _ => panic!(
            "{} has {needle:?} on several lines: {hits:?}",
            path.display()
        ),
    }
}

/// The line marked `/* RACE:tag */` in `c_file`.
pub fn marker_line(c_file: &str, tag: &str) -> u32 {
    line_containing(c_file, &format!("/* RACE:{tag} */"))
}

/// The file name (`x.c`) of a C program name or path.
pub fn c_file_name(name: &str) -> String {
    c_source(name)
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_else(|| name.to_string())
}

// ---------------------------------------------------------------------------
// Text reports
// ---------------------------------------------------------------------------

/// Whether an access was a read or a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
    /// Either is acceptable (e.g. a read-modify-write instruction).
    Any,
}

impl Access {
    fn matches(self, is_write: Option<bool>) -> bool {
        match self {
            Access::Any => is_write.is_some(),
            Access::Write => is_write == Some(true),
            Access::Read => is_write == Some(false),
        }
    }
}

/// One report block of the text format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// `data race`, `unordered policy change` or `annotation error`.
    pub kind: String,
    /// The `(pid=N)` of the first line.
    pub pid: Option<u32>,
    /// For an access: whether the `Write at`/`Read at` line says write.
    pub is_write: Option<bool>,
    /// The `Write at ...`/`Read at ...` line, trimmed.
    pub access_line: Option<String>,
    /// Frame `#0` of the access (the line right after the access line) or,
    /// without an access line, the first `#0` frame of the block; trimmed.
    pub frame0: Option<String>,
    /// Every line of the block after the `WARNING:` line.
    pub lines: Vec<String>,
}

impl Report {
    /// The first non-empty line after the `WARNING:` line (an annotation
    /// error's call line), trimmed.
    pub fn first_line(&self) -> Option<&str> {
        self.lines.iter().map(|l| l.trim()).find(|l| !l.is_empty())
    }

    /// The `Object 0x... of N bytes, policy ...` line, trimmed.
    pub fn object_line(&self) -> Option<&str> {
        self.lines
            .iter()
            .map(|l| l.trim())
            .find(|l| l.starts_with("Object "))
    }

    /// The whole block as text.
    pub fn text(&self) -> String {
        self.lines.join("\n")
    }

    /// The thread name (`T1`) in the access line.
    pub fn access_thread(&self) -> Option<String> {
        let line = self.access_line.as_ref()?;
        let rest = &line[line.find("by thread ")? + "by thread ".len()..];
        Some(rest.split_whitespace().next()?.to_string())
    }

    /// The name of the accessing thread (what `pthread_setname_np` set,
    /// libtest's test name, or the program's name), quoted after `T<n>` on
    /// the access line: `by thread T1 "worker" (tid 4243):`. For a report
    /// without an access line, the same on the first line (the call).
    pub fn thread_name(&self) -> Option<String> {
        let line = self.access_line.as_deref().or_else(|| self.first_line())?;
        quoted_thread_name(line)
    }

    /// Whether frame `#0` is at `file:line`.
    pub fn frame0_at(&self, file: &str, line: u32) -> bool {
        self.frame0
            .as_deref()
            .is_some_and(|f| frame_is_at(f, file, line))
    }
}

/// The quoted thread name after `by thread T<n> ` in a report line, with
/// the escapes of the text format (`\"`, `\\`) undone.
pub fn quoted_thread_name(line: &str) -> Option<String> {
    let rest = &line[line.find("by thread ")? + "by thread ".len()..];
    let rest = rest.split_once(' ')?.1.strip_prefix('"')?;
    let mut name = String::new();
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(name),
            '\\' => name.push(chars.next()?),
            c => name.push(c),
        }
    }
    None
}

/// Whether a frame line (`#0 0x... in fn /src/x.c:14`) names `file:line`
/// (a trailing `:column` is allowed).
pub fn frame_is_at(frame: &str, file: &str, line: u32) -> bool {
    let want = format!("{file}:{line}");
    frame.split_whitespace().any(|tok| {
        let tok = tok.trim_matches(|c| c == '(' || c == ')' || c == ',');
        let base = match tok.rfind('/') {
            Some(i) => &tok[i + 1..],
            None => tok,
        };
        base == want
            || base
                .strip_prefix(&want)
                .is_some_and(|rest| rest.starts_with(':'))
    })
}

fn finish_report(header: &str, lines: Vec<String>) -> Report {
    let (kind, pid) = match header.rfind(" (pid=") {
        Some(i) => {
            let pid = header[i + " (pid=".len()..]
                .trim_end_matches(')')
                .trim()
                .parse()
                .ok();
            (header[..i].trim().to_string(), pid)
        }
        None => (header.trim().to_string(), None),
    };
    let mut is_write = None;
    let mut access_line = None;
    let mut frame0 = None;
    for (i, l) in lines.iter().enumerate() {
        let t = l.trim_start();
        let w = if t.starts_with("Write at ") {
            Some(true)
        } else if t.starts_with("Read at ") {
            Some(false)
        } else {
            None
        };
        if w.is_some() {
            is_write = w;
            access_line = Some(t.trim_end().to_string());
            frame0 = lines.get(i + 1).map(|f| f.trim().to_string());
            break;
        }
    }
    if frame0.is_none() {
        frame0 = lines
            .iter()
            .map(|l| l.trim())
            .find(|l| l.starts_with("#0 ") || *l == "#0")
            .map(str::to_string);
    }
    Report {
        kind,
        pid,
        is_write,
        access_line,
        frame0,
        lines,
    }
}

/// Splits stderr into report blocks: each starts at a `WARNING: PUSh: `
/// line and ends at the next `=====` separator, `WARNING:` or `SUMMARY:`
/// line.
pub fn parse_reports(stderr: &str) -> Vec<Report> {
    let mut reports = Vec::new();
    let mut current: Option<(String, Vec<String>)> = None;
    for line in stderr.lines() {
        if let Some(header) = line.strip_prefix(WARNING_PREFIX) {
            if let Some((h, ls)) = current.take() {
                reports.push(finish_report(&h, ls));
            }
            current = Some((header.to_string(), Vec::new()));
        } else if line.starts_with(SUMMARY_PREFIX) || line.starts_with("==========") {
            if let Some((h, ls)) = current.take() {
                reports.push(finish_report(&h, ls));
            }
        } else if let Some((_, ls)) = current.as_mut() {
            ls.push(line.to_string());
        }
    }
    if let Some((h, ls)) = current.take() {
        reports.push(finish_report(&h, ls));
    }
    reports
}

/// The counts of the `SUMMARY: PUSh: N reports (A data races, B unordered
/// policy changes, C annotation errors)` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub reports: u64,
    pub data_races: u64,
    pub unordered_policy_changes: u64,
    pub annotation_errors: u64,
}

/// Parses the (last) `SUMMARY: PUSh:` line of stderr.
pub fn parse_summary(stderr: &str) -> Option<Summary> {
    let line = stderr
        .lines()
        .rev()
        .find(|l| l.starts_with(SUMMARY_PREFIX))?;
    let rest = &line[SUMMARY_PREFIX.len()..];
    let mut summary = Summary {
        reports: 0,
        data_races: 0,
        unordered_policy_changes: 0,
        annotation_errors: 0,
    };
    // "3 reports (2 data races, 0 unordered policy changes, 1 annotation error)"
    let (total, details) = rest.split_once('(').unwrap_or((rest, ""));
    summary.reports = total.split_whitespace().next()?.parse().ok()?;
    for part in details.trim_end().trim_end_matches(')').split(',') {
        let part = part.trim();
        let Some((n, what)) = part.split_once(' ') else {
            continue;
        };
        let Ok(n) = n.parse() else { continue };
        if what.starts_with("data race") {
            summary.data_races = n;
        } else if what.starts_with("unordered policy change") {
            summary.unordered_policy_changes = n;
        } else if what.starts_with("annotation error") {
            summary.annotation_errors = n;
        }
    }
    Some(summary)
}

// ---------------------------------------------------------------------------
// Assertions
// ---------------------------------------------------------------------------

/// Asserts the child exited (not killed by a signal) with `code`.
pub fn assert_exit_code(result: &RunResult, code: i32) {
    assert!(
        result.code == Some(code),
        "expected exit code {code}\n{result}"
    );
}

/// Asserts the child was killed by signal `sig`.
pub fn assert_signal(result: &RunResult, sig: i32) {
    assert!(
        result.signal == Some(sig),
        "expected death by signal {sig}\n{result}"
    );
}

/// Asserts a clean run: exit code 0 and no `WARNING: PUSh:` on stderr.
pub fn assert_clean(result: &RunResult) {
    assert!(
        !result.stderr.contains("WARNING: PUSh:"),
        "expected no report\n{result}"
    );
    assert_exit_code(result, 0);
}

/// Asserts that stderr has a report of `kind` whose access is a write
/// (`is_write`) or a read, with frame `#0` at `file:line`; returns it.
pub fn assert_race(
    result: &RunResult,
    kind: &str,
    is_write: bool,
    file: &str,
    line: u32,
) -> Report {
    let access = if is_write {
        Access::Write
    } else {
        Access::Read
    };
    assert_race_access(result, kind, access, file, line)
}

/// [`assert_race`] with the access type as an [`Access`] (`Any` allowed).
pub fn assert_race_access(
    result: &RunResult,
    kind: &str,
    access: Access,
    file: &str,
    line: u32,
) -> Report {
    let reports = result.reports();
    reports
        .iter()
        .find(|r| r.kind == kind && access.matches(r.is_write) && r.frame0_at(file, line))
        .cloned()
        .unwrap_or_else(|| {
            panic!(
                "expected a `{kind}` report ({access:?}) with frame #0 at {file}:{line}; \
                 parsed {} report(s): {:#?}\n{result}",
                reports.len(),
                reports
                    .iter()
                    .map(|r| (&r.kind, r.is_write, &r.frame0))
                    .collect::<Vec<_>>()
            )
        })
}

/// Asserts that stderr has an `annotation error` report whose first line
/// names `call` (e.g. `push_private`) and whose stack's frame `#0` is at
/// `file:line`; returns it.
pub fn assert_annotation_error(result: &RunResult, call: &str, file: &str, line: u32) -> Report {
    let reports = result.reports();
    reports
        .iter()
        .find(|r| {
            r.kind == ANNOTATION_ERROR
                && r.first_line().is_some_and(|l| l.contains(call))
                && r.frame0_at(file, line)
        })
        .cloned()
        .unwrap_or_else(|| {
            panic!(
                "expected an annotation error for {call} at {file}:{line}; parsed: {:#?}\n{result}",
                reports
                    .iter()
                    .map(|r| (&r.kind, r.first_line(), &r.frame0))
                    .collect::<Vec<_>>()
            )
        })
}

/// Asserts exactly `n` report blocks on stderr.
pub fn assert_report_count(result: &RunResult, n: usize) {
    let reports = result.reports();
    assert!(
        reports.len() == n,
        "expected {n} report(s), found {}: {:#?}\n{result}",
        reports.len(),
        reports
            .iter()
            .map(|r| (&r.kind, r.is_write, &r.frame0))
            .collect::<Vec<_>>()
    );
}

/// Asserts stdout equals `expected` exactly.
pub fn assert_stdout(result: &RunResult, expected: &str) {
    assert!(
        result.stdout == expected,
        "expected stdout {expected:?}\n{result}"
    );
}

// ---------------------------------------------------------------------------
// Scenarios shared by the test files
// ---------------------------------------------------------------------------

/// Which ways of running a program under the runtime a scenario uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `LD_PRELOAD=libpush.so`
    Preload,
    /// `push run --`
    Cli,
}

/// Both runtime modes.
pub const MODES: [Mode; 2] = [Mode::Preload, Mode::Cli];

/// Runs `bin` under the runtime in `mode` with default options.
pub fn run_mode(mode: Mode, bin: &Path) -> RunResult {
    match mode {
        Mode::Preload => run_preload(bin, ""),
        Mode::Cli => run_cli(bin, &[]),
    }
}

/// Compiles `name`, runs it natively and checks exit 0 and `expected`
/// stdout, with no `PUSh` on stderr. Returns the binary.
pub fn check_native(name: &str, expected_stdout: &str) -> PathBuf {
    check_native_args(name, &[], expected_stdout)
}

/// [`check_native`] with command-line arguments for the program.
pub fn check_native_args(name: &str, args: &[&str], expected_stdout: &str) -> PathBuf {
    let bin = compile_c(name);
    let native = run_native_args(&bin, args);
    assert_exit_code(&native, 0);
    assert_stdout(&native, expected_stdout);
    assert!(
        !native.stderr.contains("PUSh"),
        "native run mentions PUSh\n{native}"
    );
    bin
}

/// A clean program: natively, under `LD_PRELOAD` and under `push run`, it
/// exits 0 with `expected_stdout`, and under the runtime its stderr does not
/// mention PUSh at all.
pub fn check_clean(name: &str, expected_stdout: &str) {
    check_clean_args(name, &[], expected_stdout)
}

/// [`check_clean`] with command-line arguments for the program.
pub fn check_clean_args(name: &str, args: &[&str], expected_stdout: &str) {
    let bin = check_native_args(name, args, expected_stdout);
    require_pku!();
    for mode in MODES {
        let r = run_mode_args(mode, &bin, args);
        assert_clean(&r);
        assert!(
            !r.stderr.contains("PUSh"),
            "a clean program's stderr must not mention PUSh ({mode:?})\n{r}"
        );
        assert_stdout(&r, expected_stdout);
    }
}

/// A program with exactly one racy access, on the line marked
/// `/* RACE:tag */`: natively it exits 0 with `expected_stdout`; under
/// `LD_PRELOAD` and under `push run` it still prints `expected_stdout` (the
/// default continues after a report), reports exactly one data race of the
/// given access type with frame `#0` at the marker, prints a `SUMMARY:`
/// line and exits 66. Returns the report of the preload run.
pub fn check_racy(name: &str, tag: &str, access: Access, expected_stdout: &str) -> Option<Report> {
    let bin = check_native(name, expected_stdout);
    require_pku!(None);
    let file = c_file_name(name);
    let line = marker_line(name, tag);
    let mut first = None;
    for mode in MODES {
        let r = run_mode(mode, &bin);
        assert_exit_code(&r, RACE_EXIT);
        let report = assert_race_access(&r, DATA_RACE, access, &file, line);
        assert_report_count(&r, 1);
        assert!(
            r.stderr.lines().any(|l| l.starts_with(SUMMARY_PREFIX)),
            "no `SUMMARY: PUSh:` line ({mode:?})\n{r}"
        );
        assert_stdout(&r, expected_stdout);
        if mode == Mode::Preload {
            assert_eq!(report.pid, Some(r.pid), "report pid\n{r}");
        }
        first.get_or_insert(report);
    }
    first
}

// ---------------------------------------------------------------------------
// Happens-before validation: `unordered policy change` reports
// ---------------------------------------------------------------------------

/// The line marked `/* CHANGE:tag */` in `c_file`: the policy change an
/// `unordered policy change` report must show as the change not ordered
/// before the access (rule 2) or as the previous change (rule 1).
pub fn change_marker_line(c_file: &str, tag: &str) -> u32 {
    line_containing(c_file, &format!("/* CHANGE:{tag} */"))
}

/// What an `unordered policy change` report is about (the two rules of
/// docs/model.md, "Happens-before").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unordered<'a> {
    /// Rule 1: the policy change `call` (e.g. `"push_acquire"`) does not
    /// happen after the object's previous change, made by `previous` (e.g.
    /// `"push_release"`) in another thread. The block starts with a
    /// `call(0x...) by thread Tn ...` line; frame `#0` is the call's site.
    Change { call: &'a str, previous: &'a str },
    /// Rule 2: another thread's first access under a new policy does not
    /// happen after the change made by `change` (e.g. `"push_transfer"`).
    /// The block starts with a `Read at`/`Write at` line; frame `#0` is the
    /// access.
    Access { access: Access, change: &'a str },
}

impl Unordered<'_> {
    /// The push_* call whose site the report's second stack shows.
    pub fn change_site_call(&self) -> &str {
        match self {
            Unordered::Change { previous, .. } => previous,
            Unordered::Access { change, .. } => change,
        }
    }
}

fn is_frame0(line: &str) -> bool {
    line.starts_with("#0 ") || line == "#0"
}

impl Report {
    /// Every frame `#0` line of the block, in order, trimmed.
    pub fn frame0_lines(&self) -> Vec<&str> {
        self.lines
            .iter()
            .map(|l| l.trim())
            .filter(|l| is_frame0(l))
            .collect()
    }

    /// The first frame `#0` line of the block, trimmed: the access of an
    /// access report, the call of an annotation error or of an unordered
    /// policy change (rule 1).
    pub fn first_frame0(&self) -> Option<&str> {
        self.lines.iter().map(|l| l.trim()).find(|l| is_frame0(l))
    }

    /// Whether the first frame `#0` of the block is at `file:line`.
    pub fn first_frame0_at(&self, file: &str, line: u32) -> bool {
        self.first_frame0()
            .is_some_and(|f| frame_is_at(f, file, line))
    }

    /// The first line after the block's first frame `#0` that contains
    /// `needle` and is not a frame, trimmed (e.g. `Policy changed by
    /// push_transfer in thread T0 ...`).
    pub fn line_after_first_frame(&self, needle: &str) -> Option<&str> {
        let first = self.lines.iter().position(|l| is_frame0(l.trim()))?;
        self.lines[first + 1..]
            .iter()
            .map(|l| l.trim())
            .find(|l| !l.starts_with('#') && l.contains(needle))
    }

    /// Frame `#0` of the stack that follows
    /// [`line_after_first_frame(needle)`](Self::line_after_first_frame): for
    /// an unordered policy change, `frame0_after("push_release")` is the
    /// site of that change.
    pub fn frame0_after(&self, needle: &str) -> Option<&str> {
        let first = self.lines.iter().position(|l| is_frame0(l.trim()))?;
        let rest = &self.lines[first + 1..];
        let at = rest.iter().position(|l| {
            let t = l.trim_start();
            !t.starts_with('#') && t.contains(needle)
        })?;
        rest[at + 1..]
            .iter()
            .map(|l| l.trim())
            .find(|l| is_frame0(l))
    }
}

/// Asserts that stderr has an `unordered policy change` report of the shape
/// `expect` whose first frame `#0` is at `file:line` (the access for rule 2,
/// the later push_* call for rule 1) and whose change site (the stack after
/// the line naming `expect.change_site_call()`) has frame `#0` at
/// `file:change_line`; returns it.
pub fn assert_unordered(
    result: &RunResult,
    expect: Unordered<'_>,
    file: &str,
    line: u32,
    change_line: u32,
) -> Report {
    let reports = result.reports();
    let report = reports
        .iter()
        .find(|r| r.kind == UNORDERED_POLICY_CHANGE && r.first_frame0_at(file, line))
        .cloned()
        .unwrap_or_else(|| {
            panic!(
                "expected an `{UNORDERED_POLICY_CHANGE}` report ({expect:?}) with frame #0 at \
                 {file}:{line}; parsed {} report(s): {:#?}\n{result}",
                reports.len(),
                reports
                    .iter()
                    .map(|r| (&r.kind, r.first_line(), r.first_frame0()))
                    .collect::<Vec<_>>()
            )
        });
    match expect {
        Unordered::Change { call, .. } => {
            let prefix = format!("{call}(");
            assert!(
                report.first_line().is_some_and(|l| l.starts_with(&prefix)),
                "rule 1: the report's first line names the later call {call}:\n{}\n{result}",
                report.text()
            );
            assert!(
                report.access_line.is_none(),
                "rule 1: a policy change, not an access:\n{}\n{result}",
                report.text()
            );
        }
        Unordered::Access { access, .. } => {
            assert!(
                report.access_line.is_some() && access.matches(report.is_write),
                "rule 2: expected a {access:?} access line:\n{}\n{result}",
                report.text()
            );
        }
    }
    let site = expect.change_site_call();
    assert!(
        report
            .frame0_after(site)
            .is_some_and(|f| frame_is_at(f, file, change_line)),
        "the report must show the change by {site} at {file}:{change_line} (found {:?}):\n{}\n{result}",
        report.frame0_after(site),
        report.text()
    );
    report
}

/// [`check_racy`] for happens-before validation: a program with exactly one
/// policy change or first access not ordered by anything the runtime sees.
/// Its unordered line is marked `/* RACE:tag */` and the policy change the
/// report must show as the other side is marked `/* CHANGE:tag */`.
/// Natively it exits 0 with `expected_stdout`; under `LD_PRELOAD` and under
/// `push run` it still prints `expected_stdout`, reports exactly one
/// `unordered policy change` of the shape `expect` (see
/// [`assert_unordered`]) and nothing else, prints the summary
/// `1 report (0 data races, 1 unordered policy change, 0 annotation
/// errors)` and exits 66. Returns the report of the preload run.
pub fn check_unordered(
    name: &str,
    tag: &str,
    expect: Unordered<'_>,
    expected_stdout: &str,
) -> Option<Report> {
    let bin = check_native(name, expected_stdout);
    require_pku!(None);
    let file = c_file_name(name);
    let line = marker_line(name, tag);
    let change_line = change_marker_line(name, tag);
    let mut first = None;
    for mode in MODES {
        let r = run_mode(mode, &bin);
        assert_exit_code(&r, RACE_EXIT);
        let report = assert_unordered(&r, expect, &file, line, change_line);
        assert_report_count(&r, 1);
        let summary = r
            .summary()
            .unwrap_or_else(|| panic!("no `SUMMARY: PUSh:` line ({mode:?})\n{r}"));
        assert_eq!(
            summary,
            Summary {
                reports: 1,
                data_races: 0,
                unordered_policy_changes: 1,
                annotation_errors: 0
            },
            "summary ({mode:?})\n{r}"
        );
        assert_stdout(&r, expected_stdout);
        if mode == Mode::Preload {
            assert_eq!(report.pid, Some(r.pid), "report pid\n{r}");
        }
        first.get_or_insert(report);
    }
    first
}

// ---------------------------------------------------------------------------
// Rust programs (examples/rust, built with cargo)
// ---------------------------------------------------------------------------

/// The package of Rust example programs (`examples/rust`).
pub fn rust_examples_dir() -> PathBuf {
    repo_root().join("examples").join("rust")
}

/// The cargo target directory the tests build Rust programs into
/// (`target/rust-annotate`): not the outer build's, whose lock a running
/// `cargo test` may hold.
pub fn rust_target_dir() -> PathBuf {
    target_dir().join("rust-annotate")
}

/// How long a cargo build of the Rust examples may take (dependencies
/// included, on a small machine).
pub const CARGO_BUILD_TIMEOUT: Duration = Duration::from_secs(600);

/// A `cargo` command (the one running the tests, if any) building into
/// [`rust_target_dir`], run in `dir`, without the runtime in its
/// environment.
pub fn cargo_command(dir: &Path) -> Command {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(dir)
        .env("CARGO_TARGET_DIR", rust_target_dir())
        .env_remove("LD_PRELOAD")
        .env_remove("PUSH_OPTIONS");
    cmd
}

/// Builds the binaries of `examples/rust` (debug profile, as `cargo build`
/// does; the workspace's `.cargo/config.toml` keeps frame pointers) once
/// per process and returns the directory they are in. Panics with cargo's
/// output when the build fails.
pub fn build_rust_examples() -> PathBuf {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let built = BUILT.get_or_init(|| {
        let mut cmd = cargo_command(&repo_root());
        cmd.args(["build", "-p", "push-rust-examples", "--bins"]);
        let r = run_with_timeout(cmd, CARGO_BUILD_TIMEOUT);
        if r.timed_out || r.code != Some(0) {
            return Err(format!("building examples/rust failed\n{r}"));
        }
        Ok(rust_target_dir().join("debug"))
    });
    match built {
        Ok(dir) => dir.clone(),
        Err(e) => panic!("{e}"),
    }
}

/// The built binary of the Rust example `name` (`examples/rust/src/bin/<name>.rs`).
pub fn rust_example(name: &str) -> PathBuf {
    let bin = build_rust_examples().join(name);
    assert!(bin.is_file(), "{} was not built", bin.display());
    bin
}

/// The source of the Rust example `name`.
pub fn rust_example_source(name: &str) -> PathBuf {
    rust_examples_dir()
        .join("src")
        .join("bin")
        .join(format!("{name}.rs"))
}

/// The line of the Rust source `path` marked `// RACE:tag`.
pub fn rust_marker_line(path: &Path, tag: &str) -> u32 {
    line_containing(&path.to_string_lossy(), &format!("// RACE:{tag}"))
}

/// Runs the Rust example `name` natively: exit 0, `expected_stdout`, no
/// `PUSh` on stderr. Returns the binary.
pub fn check_rust_native(name: &str, expected_stdout: &str) -> PathBuf {
    let bin = rust_example(name);
    let native = run_native(&bin);
    assert_exit_code(&native, 0);
    assert_stdout(&native, expected_stdout);
    assert!(
        !native.stderr.contains("PUSh"),
        "native run mentions PUSh\n{native}"
    );
    bin
}

/// [`check_clean`] for a Rust example.
pub fn check_rust_clean(name: &str, expected_stdout: &str) {
    let bin = check_rust_native(name, expected_stdout);
    require_pku!();
    for mode in MODES {
        let r = run_mode(mode, &bin);
        assert_clean(&r);
        assert!(
            !r.stderr.contains("PUSh"),
            "a clean program's stderr must not mention PUSh ({mode:?})\n{r}"
        );
        assert_stdout(&r, expected_stdout);
    }
}

/// [`check_racy`] for a Rust example: natively exit 0 and
/// `expected_stdout`; under `LD_PRELOAD` and under `push run` the same
/// stdout, exactly one data race of `access` with frame `#0` at the line
/// of `<name>.rs` marked `// RACE:tag`, a summary, exit 66. Returns the
/// report of the preload run.
pub fn check_rust_racy(
    name: &str,
    tag: &str,
    access: Access,
    expected_stdout: &str,
) -> Option<Report> {
    check_rust_racy_reports(name, tag, access, expected_stdout, 1)
}

/// [`check_rust_racy`] for a racy line that compiles to a separate load
/// and store (`x += 1` in a debug build, with its overflow check between
/// them): the load and the store are reported once each (reports are per
/// access site), so the run has one or two data races, all at the marked
/// line.
pub fn check_rust_racy_load_store(name: &str, tag: &str, expected_stdout: &str) -> Option<Report> {
    check_rust_racy_reports(name, tag, Access::Any, expected_stdout, 2)
}

fn check_rust_racy_reports(
    name: &str,
    tag: &str,
    access: Access,
    expected_stdout: &str,
    max_reports: usize,
) -> Option<Report> {
    let bin = check_rust_native(name, expected_stdout);
    require_pku!(None);
    let line = rust_marker_line(&rust_example_source(name), tag);
    let file = format!("{name}.rs");
    let mut first = None;
    for mode in MODES {
        let r = run_mode(mode, &bin);
        assert_exit_code(&r, RACE_EXIT);
        let report = assert_race_access(&r, DATA_RACE, access, &file, line);
        let reports = r.reports();
        assert!(
            (1..=max_reports).contains(&reports.len())
                && reports
                    .iter()
                    .all(|rep| rep.kind == DATA_RACE && rep.frame0_at(&file, line)),
            "expected 1 to {max_reports} data race(s), all at {file}:{line}; found {:#?}\n{r}",
            reports
                .iter()
                .map(|r| (&r.kind, r.is_write, &r.frame0))
                .collect::<Vec<_>>()
        );
        let summary = r
            .summary()
            .unwrap_or_else(|| panic!("no `SUMMARY: PUSh:` line ({mode:?})\n{r}"));
        assert_eq!(
            (summary.reports, summary.data_races),
            (reports.len() as u64, reports.len() as u64),
            "{r}"
        );
        assert_stdout(&r, expected_stdout);
        first.get_or_insert(report);
    }
    first
}

/// Sets `PUSH_OPTIONS` for a command that starts programs under the
/// runtime itself (e.g. `cargo test` with `push run` as its runner):
/// `options` plus the suite's backend.
pub fn set_push_options(cmd: &mut Command, options: &str) {
    set_runtime_env(cmd, options, &[]);
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
some program output
==================
WARNING: PUSh: data race (pid=4242)
  Write at 0x7f2a1c000008 (offset 8 in object 0x7f2a1c000000) by thread T1 \"writer \\\"1\\\"\" (tid 4243):
    #0 0x5555555551a9 in writer /src/racy.c:14
    #1 0x7ffff7e2a144 in start_thread (/lib/x86_64-linux-gnu/libc.so.6+0x8a144)

  Object 0x7f2a1c000000 of 64 bytes, policy protected_by(lock 0x5555555580a0, held by T2)
  allocated by thread T0 (tid 4242) at:
    #0 0x555555555230 in main /src/racy.c:30
==================
==================
WARNING: PUSh: annotation error (pid=4242)
  push_private(0x55555555a2a0) by thread T0 (tid 4242): not a tracked object (EINVAL)
    #0 0x555555555230 in main /src/misuse.c:12
==================
==================
WARNING: PUSh: data race (pid=4242)
  Read at 0x7f2a1c000010 (offset 16 in object 0x7f2a1c000000) by thread T3 (tid 4245):
    #0 0x5555555551b0 in reader /src/racy.c:140
==================
SUMMARY: PUSh: 3 reports (2 data races, 0 unordered policy changes, 1 annotation error)
";

    #[test]
    fn parses_sample_reports() {
        let reports = parse_reports(SAMPLE);
        assert_eq!(reports.len(), 3);
        let r = &reports[0];
        assert_eq!(r.kind, DATA_RACE);
        assert_eq!(r.pid, Some(4242));
        assert_eq!(r.is_write, Some(true));
        assert!(r.frame0_at("racy.c", 14));
        assert!(!r.frame0_at("racy.c", 1));
        assert!(!r.frame0_at("y.c", 14));
        assert_eq!(r.access_thread().as_deref(), Some("T1"));
        assert_eq!(r.thread_name().as_deref(), Some("writer \"1\""));
        assert!(r.object_line().unwrap().contains("of 64 bytes"));

        let a = &reports[1];
        assert_eq!(a.kind, ANNOTATION_ERROR);
        assert_eq!(a.is_write, None);
        assert_eq!(a.thread_name(), None);
        assert!(a.first_line().unwrap().starts_with("push_private("));
        assert!(a.frame0_at("misuse.c", 12));

        let b = &reports[2];
        assert_eq!(b.is_write, Some(false));
        assert!(b.frame0_at("racy.c", 140));
        assert!(!b.frame0_at("racy.c", 14));
    }

    const SAMPLE_HB: &str = "\
==================
WARNING: PUSh: unordered policy change (pid=77)
  Write at 0x7f0000000008 (offset 8 in object 0x7f0000000000) by thread T1 (tid 78):
    #0 0x5555555551a9 in receiver /src/hb_transfer_race.c:18
    #1 0x7ffff7e2a144 in start_thread (/lib/x86_64-linux-gnu/libc.so.6+0x8a144)
  Policy changed by push_transfer in thread T0 (tid 77), not ordered before this access:
    #0 0x555555555300 in main /src/hb_transfer_race.c:33
  Object 0x7f0000000000 of 16 bytes, policy private(T1)
  allocated by thread T0 (tid 77) at:
    #0 0x555555555280 in main /src/hb_transfer_race.c:27
==================
==================
WARNING: PUSh: unordered policy change (pid=77)
  push_acquire(0x7f0000001000) by thread T1 (tid 78): not ordered after the previous policy change
    #0 0x5555555551c0 in taker /src/hb_acquire_race.c:17
  Previous change by push_release in thread T0 (tid 77):
    #0 0x555555555310 in main /src/hb_acquire_race.c:30
    #1 0x7ffff7dbd24a in __libc_start_call_main (/lib/x86_64-linux-gnu/libc.so.6+0x2724a)
  Object 0x7f0000001000 of 16 bytes, policy private(T1)
==================
SUMMARY: PUSh: 2 reports (0 data races, 2 unordered policy changes, 0 annotation errors)
";

    #[test]
    fn parses_unordered_policy_change_reports() {
        let reports = parse_reports(SAMPLE_HB);
        assert_eq!(reports.len(), 2);

        let access = &reports[0];
        assert_eq!(access.kind, UNORDERED_POLICY_CHANGE);
        assert_eq!(access.pid, Some(77));
        assert_eq!(access.is_write, Some(true));
        assert_eq!(access.access_thread().as_deref(), Some("T1"));
        assert!(access.frame0_at("hb_transfer_race.c", 18));
        assert!(access.first_frame0_at("hb_transfer_race.c", 18));
        assert_eq!(access.frame0_lines().len(), 3);
        assert!(access
            .frame0_after("push_transfer")
            .is_some_and(|f| frame_is_at(f, "hb_transfer_race.c", 33)));
        assert!(access
            .line_after_first_frame("push_transfer")
            .is_some_and(|l| l.contains("thread T0")));
        assert!(access.object_line().unwrap().contains("policy private(T1)"));

        let change = &reports[1];
        assert_eq!(change.kind, UNORDERED_POLICY_CHANGE);
        assert_eq!(change.is_write, None);
        assert_eq!(change.access_line, None);
        assert!(change.first_line().unwrap().starts_with("push_acquire("));
        assert!(change.first_frame0_at("hb_acquire_race.c", 17));
        assert!(change.frame0_at("hb_acquire_race.c", 17));
        assert!(!change.first_frame0_at("hb_acquire_race.c", 30));
        assert!(change
            .frame0_after("push_release")
            .is_some_and(|f| frame_is_at(f, "hb_acquire_race.c", 30)));
        // The call's own name is before the first frame: not a change site.
        assert_eq!(change.frame0_after("push_acquire"), None);

        assert_eq!(
            parse_summary(SAMPLE_HB),
            Some(Summary {
                reports: 2,
                data_races: 0,
                unordered_policy_changes: 2,
                annotation_errors: 0
            })
        );
    }

    #[test]
    fn every_change_marker_is_unique() {
        for entry in fs::read_dir(c_dir()).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().and_then(|e| e.to_str()) != Some("c") {
                continue;
            }
            let text = fs::read_to_string(&path).unwrap();
            for (i, l) in text.lines().enumerate() {
                if let Some(pos) = l.find("/* CHANGE:") {
                    let tag = l[pos + 10..].split(' ').next().unwrap();
                    let line = change_marker_line(path.to_str().unwrap(), tag);
                    assert_eq!(line, i as u32 + 1);
                    // Every change marker pairs with a race marker.
                    marker_line(path.to_str().unwrap(), tag);
                }
            }
        }
    }

    #[test]
    fn parses_summary() {
        assert_eq!(
            parse_summary(SAMPLE),
            Some(Summary {
                reports: 3,
                data_races: 2,
                unordered_policy_changes: 0,
                annotation_errors: 1
            })
        );
        let one = "SUMMARY: PUSh: 1 report (1 data race, 0 unordered policy changes, 0 annotation errors)";
        assert_eq!(
            parse_summary(one).map(|s| (s.reports, s.data_races)),
            Some((1, 1))
        );
        assert_eq!(parse_summary("nothing"), None);
    }

    #[test]
    fn frame_matching() {
        assert!(frame_is_at("#0 0x1 in f /a/b/x.c:7", "x.c", 7));
        assert!(frame_is_at("#0 0x1 in f x.c:7:3", "x.c", 7));
        assert!(!frame_is_at("#0 0x1 in f /a/b/x.c:70", "x.c", 7));
        assert!(!frame_is_at("#0 0x1 in f /a/b/xx.c:7", "x.c", 7));
        assert!(!frame_is_at("#0 0x1 (/bin/x+0x1234)", "x.c", 7));
    }

    #[test]
    fn run_with_timeout_captures_status_and_output() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo out; echo err >&2; exit 3"]);
        let r = run_with_timeout(cmd, DEFAULT_TIMEOUT);
        assert!(!r.timed_out);
        assert_eq!((r.code, r.signal), (Some(3), None));
        assert_eq!((r.stdout.as_str(), r.stderr.as_str()), ("out\n", "err\n"));

        let mut cmd = Command::new("sh");
        cmd.args(["-c", "kill -SEGV $$"]);
        let r = run_with_timeout(cmd, DEFAULT_TIMEOUT);
        assert_eq!((r.code, r.signal), (None, Some(libc::SIGSEGV)));
    }

    #[test]
    fn run_with_timeout_kills_the_whole_group() {
        let mut cmd = Command::new("sh");
        // A grandchild holding the pipes must not keep the harness waiting.
        cmd.args(["-c", "sleep 30 & sleep 30; echo never"]);
        let start = Instant::now();
        let r = run_with_timeout(cmd, Duration::from_millis(300));
        assert!(r.timed_out);
        assert_eq!(r.signal, Some(libc::SIGKILL));
        assert!(!r.stdout.contains("never"));
        assert!(start.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn leftover_background_process_does_not_hang_the_harness() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "sleep 30 & echo done"]);
        let start = Instant::now();
        let r = run_with_timeout(cmd, DEFAULT_TIMEOUT);
        assert!(!r.timed_out);
        assert_eq!(r.code, Some(0));
        assert_eq!(r.stdout, "done\n");
        assert!(start.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn every_marker_is_unique() {
        let mut count = 0;
        for entry in fs::read_dir(c_dir()).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().and_then(|e| e.to_str()) != Some("c") {
                continue;
            }
            let text = fs::read_to_string(&path).unwrap();
            for (i, l) in text.lines().enumerate() {
                if let Some(pos) = l.find("/* RACE:") {
                    let tag = l[pos + 8..].split(' ').next().unwrap();
                    let line = marker_line(path.to_str().unwrap(), tag);
                    assert_eq!(line, i as u32 + 1);
                    count += 1;
                }
            }
        }
        assert!(count > 10, "found only {count} markers");
    }
}
