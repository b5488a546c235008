//! Running child processes: natively, under `LD_PRELOAD=libpush.so` and
//! under `push run`, each with a timeout, in a process group of its own.

use std::fmt;
use std::fs;
use std::io::Read;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::parse::{parse_reports, parse_summary, Report, Summary};
use crate::paths::{libpush_path, push_cli_path, target_dir};
use crate::pku::{test_backend, Backend};
use crate::scenarios::Mode;

/// How long a child may run before it is killed and the test fails.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Exit status of a process that reported anything (the `exitcode` default).
pub const RACE_EXIT: i32 = 66;

/// Exit status for malformed options.
pub const BAD_OPTIONS_EXIT: i32 = 2;

/// Exit status `push run` gives for a child killed by SIGSEGV (128 + 11).
pub const CLI_SEGV_EXIT: i32 = 139;

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
    /// On a timeout: where each thread of the child's process group was
    /// when it was killed (state, kernel wait channel, system call), so a
    /// hang says where it hung.
    pub threads_at_timeout: String,
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
        write!(f, "----- stderr -----\n{}------------------", self.stderr)?;
        if !self.threads_at_timeout.is_empty() {
            write!(
                f,
                "\n----- threads at the timeout -----\n{}------------------",
                self.threads_at_timeout
            )?;
        }
        Ok(())
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
    let mut threads_at_timeout = String::new();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => {}
            Err(e) => panic!("waiting for `{command}` failed: {e}"),
        }
        if Instant::now() >= deadline {
            timed_out = true;
            threads_at_timeout = threads_of_group(pid);
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
        threads_at_timeout,
    }
}

/// Every thread of the processes in process group `pgid`, one line each:
/// pid, tid, name, state, kernel wait channel and the system call it is in
/// (number and first arguments, from /proc).
fn threads_of_group(pgid: u32) -> String {
    let read = |p: PathBuf| fs::read_to_string(p).unwrap_or_default();
    let mut out = String::new();
    let Ok(procs) = fs::read_dir("/proc") else {
        return out;
    };
    for p in procs.flatten() {
        let Some(pid) = p.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let stat = read(p.path().join("stat"));
        // Fields after the parenthesized name: state, ppid, pgrp, ...
        let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        if after.split_whitespace().nth(2) != Some(&pgid.to_string()) {
            continue;
        }
        let cmdline = read(p.path().join("cmdline")).replace('\0', " ");
        out.push_str(&format!("pid {pid}: {}\n", cmdline.trim_end()));
        if std::env::var_os("PUSH_TEST_GDB_ON_HANG").is_some() {
            // Every thread's stack, when gdb is there to ask.
            if let Ok(o) = Command::new("gdb")
                .args([
                    "-p",
                    &pid.to_string(),
                    "-batch",
                    "-ex",
                    "thread apply all bt 12",
                ])
                .stdin(Stdio::null())
                .output()
            {
                out.push_str(&String::from_utf8_lossy(&o.stdout));
            }
        }
        let Ok(tasks) = fs::read_dir(p.path().join("task")) else {
            continue;
        };
        for t in tasks.flatten() {
            let tstat = read(t.path().join("stat"));
            let state = tstat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next().map(str::to_string))
                .unwrap_or_default();
            let syscall: Vec<String> = read(t.path().join("syscall"))
                .split_whitespace()
                .take(3)
                .map(str::to_string)
                .collect();
            out.push_str(&format!(
                "  tid {} {:?} state {state} wchan {} syscall {}\n",
                t.file_name().to_string_lossy(),
                read(t.path().join("comm")).trim_end(),
                read(t.path().join("wchan")),
                syscall.join(" ")
            ));
        }
    }
    out
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

/// [`run_mode`](crate::run_mode) with command-line arguments for the program.
pub fn run_mode_args(mode: Mode, bin: &Path, args: &[&str]) -> RunResult {
    match mode {
        Mode::Preload => run_preload_args(bin, "", &[], args),
        Mode::Cli => run_cli_args(bin, &[], &[], args),
    }
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

    #[test]
    fn a_timeout_says_where_each_thread_was() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "sleep 30 & wait"]);
        let r = run_with_timeout(cmd, Duration::from_millis(300));
        assert!(r.timed_out, "{r}");
        let text = r.to_string();
        assert!(
            text.contains("----- threads at the timeout -----"),
            "{text}"
        );
        assert!(text.contains("\"sleep\" state S"), "{text}");
        assert!(text.contains("wchan "), "{text}");
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
}
