//! The printer: one per process, behind a mutex the fault handler never
//! takes. It symbolizes, applies suppressions, counts, and writes each
//! report to stderr or the log file (and the run directory), and at exit
//! the SUMMARY, the SARIF log and the suppression counts.

use super::json::json_value;
use super::queue::drain;
use super::suppress::{parse_suppressions, Suppression};
use super::symbolize::{module_name, symbolize_stack, Frame, Symbolized};
use super::text::text;
use super::{total, Checked, Kind, RawReport, ANNOTATIONS, RACES, SUPPRESSED, UNORDERED};
use crate::options::{Options, ReportFormat};
use crate::sys;
use core::sync::atomic::{AtomicI32, Ordering};
use std::fmt::Write as _;

pub(super) struct Printer {
    opts: Options,
    suppressions: Vec<Suppression>,
    log_fd: i32,
    log_pid: i32,
    /// The run directory every report is also written to (`PUSH_RUN_DIR`,
    /// else the `run_dir` option), as JSON lines in `<dir>/<pid>.reports`.
    run_dir: Option<String>,
    /// Under `push run`: the launcher prints the run's SUMMARY.
    launcher_sums_up: bool,
    collect_fd: i32,
    collect_pid: i32,
    /// `report_format=sarif` without a run directory: the reports, for the
    /// SARIF log written at exit.
    kept: Vec<serde_json::Value>,
}

/// A futex lock, not parking_lot's: a fork child must be able to release it
/// even when another thread was parked on it (parking_lot may hand the lock
/// to that waiter, who does not exist in the child: the child then hung).
pub(super) static PRINTER: sys::FutexMutex<Option<Printer>> = sys::FutexMutex::new(None);
static OUT_FD: AtomicI32 = AtomicI32::new(2);

pub fn init(opts: &Options) -> Result<(), String> {
    super::queue::init()?;
    super::capture::init()?;
    let mut suppressions = match &opts.suppressions {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("option 'suppressions': cannot read '{path}': {e}"))?;
            parse_suppressions(path, &text)?
        }
        None => Vec::new(),
    };
    if let Some(text) = crate::defaults::program_string("push_default_suppressions") {
        suppressions.extend(parse_suppressions("push_default_suppressions()", &text)?);
    }
    let from_env = std::env::var(crate::options::RUN_DIR_ENV).ok();
    *PRINTER.lock() = Some(Printer {
        opts: opts.clone(),
        suppressions,
        log_fd: -1,
        log_pid: 0,
        launcher_sums_up: from_env.is_some(),
        run_dir: from_env.or_else(|| opts.run_dir.clone()),
        collect_fd: -1,
        collect_pid: 0,
        kept: Vec::new(),
    });
    Ok(())
}

fn backend_name() -> &'static str {
    crate::backend::current().map_or("none", |b| b.name())
}

/// The backend as the SUMMARY names it, with the protection keys PUSh gave
/// to the program (fewer domains for PUSh).
pub fn backend_label() -> String {
    match crate::domains::keys_given_to_program() {
        0 => backend_name().to_string(),
        n => format!(
            "{}, {n} protection key{} given to the program",
            backend_name(),
            if n == 1 { "" } else { "s" }
        ),
    }
}

/// What a SUMMARY says: the reports by kind, the backend (as
/// [`backend_label`] writes it), and what was checked.
pub struct SummaryCounts<'a> {
    pub reports: u64,
    pub data_races: u64,
    pub unordered: u64,
    pub annotations: u64,
    pub backend: &'a str,
    pub checked: Checked,
}

/// The SUMMARY line; `processes` (a run of several processes) goes between
/// the backend and what was checked.
pub fn summary_line(c: &SummaryCounts<'_>, processes: &str) -> String {
    let plural = |n: u64, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    format!(
        "SUMMARY: PUSh: {} ({}, {}, {}) [backend {}]{processes}; {}",
        plural(c.reports, "report", "reports"),
        plural(c.data_races, "data race", "data races"),
        plural(
            c.unordered,
            "unordered policy change",
            "unordered policy changes"
        ),
        plural(c.annotations, "annotation error", "annotation errors"),
        c.backend,
        c.checked.text(),
    )
}

/// The SUMMARY in JSON: one object, `{"summary": {...}}`.
pub fn summary_json(c: &SummaryCounts<'_>, keys_given: u64) -> serde_json::Value {
    let mut v = serde_json::json!({"summary": {"reports": c.reports, "data_races": c.data_races,
        "unordered_policy_changes": c.unordered, "annotation_errors": c.annotations,
        "backend": c.backend, "keys_given_to_program": keys_given,
        "objects_tracked": c.checked.objects, "accesses_checked": c.checked.accesses}});
    if c.checked.unwatched > 0 {
        v["summary"]["objects_no_longer_watched"] = c.checked.unwatched.into();
    }
    if c.checked.parked > 0 {
        v["summary"]["watching_paused"] = c.checked.parked.into();
    }
    v
}

/// The lines `print_suppressions=1` prints: each suppression with its
/// count, then the ones that matched nothing. `hits` holds, per line of
/// `sups` in order, the number of reports it hid.
pub fn suppressions_text(sups: &[(String, String, u64)]) -> String {
    let mut s = String::new();
    for (source, rule, hits) in sups.iter().filter(|x| x.2 > 0) {
        let _ = writeln!(
            s,
            "PUSh: suppression {rule} ({source}) matched {hits} time{}",
            if *hits == 1 { "" } else { "s" }
        );
    }
    for (source, rule, _) in sups.iter().filter(|x| x.2 == 0) {
        let _ = writeln!(s, "PUSh: suppression {rule} ({source}) was never used");
    }
    s
}

/// Drains and prints the summary line (if anything was reported).
pub fn finish(verbose_stats: Option<String>) {
    drain();
    let total = total();
    let mut guard = PRINTER.lock();
    let Some(p) = guard.as_mut() else { return };
    let (r, u, a) = (
        RACES.load(Ordering::Relaxed),
        UNORDERED.load(Ordering::Relaxed),
        ANNOTATIONS.load(Ordering::Relaxed),
    );
    // Under `push run`, the launcher prints one SUMMARY for the whole run
    // on stderr; a process's own log file still gets its own.
    let launcher = p.launcher_sums_up && !p.logs_to_file();
    if total > 0 && !launcher {
        let keys = crate::domains::keys_given_to_program();
        let label = backend_label();
        let counts = SummaryCounts {
            reports: total.into(),
            data_races: r.into(),
            unordered: u.into(),
            annotations: a.into(),
            backend: &label,
            checked: Checked::of_this_process(),
        };
        let line = match p.opts.report_format {
            ReportFormat::Json => {
                let mut v = summary_json(&counts, keys.into());
                v["summary"]["backend"] = backend_name().into();
                format!("{v}\n")
            }
            _ => format!("{}\n", summary_line(&counts, "")),
        };
        p.write(line.as_bytes());
    }
    if p.opts.report_format == ReportFormat::Sarif && p.run_dir.is_none() {
        let pid = sys::getpid() as u32;
        let file = match &p.opts.log_path {
            Some(path) => format!("{}.sarif", expand_log_path(path, pid, &program_name())),
            None => format!("push.{pid}.sarif"),
        };
        let cwd = std::env::current_dir()
            .map(|d| d.display().to_string())
            .unwrap_or_default();
        let doc = super::render::sarif(
            &p.kept,
            &cwd,
            env!("CARGO_PKG_VERSION"),
            Some(Checked::of_this_process()),
        );
        let msg = match std::fs::write(&file, format!("{doc:#}\n")) {
            Ok(()) => format!("PUSh: SARIF log written to {file}\n"),
            Err(e) => format!("PUSh: cannot write the SARIF log {file}: {e}\n"),
        };
        p.write(msg.as_bytes());
    }
    let dropped = super::dropped();
    if dropped > 0 {
        p.write(format!("PUSh: {dropped} reports were dropped (report queue full)\n").as_bytes());
    }
    let sups: Vec<(String, String, u64)> = p
        .suppressions
        .iter()
        .map(|x| {
            (
                x.source.clone(),
                format!("{}:{}", x.kind, x.pattern),
                u64::from(x.hits),
            )
        })
        .collect();
    if let Some(dir) = &p.run_dir {
        if !sups.is_empty() {
            let body: String = sups
                .iter()
                .map(|(src, rule, hits)| format!("{hits}\t{src}\t{rule}\n"))
                .collect();
            let _ = std::fs::write(format!("{dir}/{}.supp", sys::getpid()), body);
        }
    }
    if p.opts.print_suppressions && !launcher {
        let text = suppressions_text(&sups);
        p.write(text.as_bytes());
    }
    if let Some(stats) = verbose_stats {
        p.write(stats.as_bytes());
    }
}

/// Prints, once, the warning that the mapping limit was reached (see
/// `maps::take_warning`; ordinary context).
pub fn flush_map_warnings() {
    if let Some(msg) = crate::maps::take_warning() {
        warn(&msg);
    }
}

/// Writes a message on the report stream (errors and warnings of the runtime).
pub fn warn(msg: &str) {
    let mut guard = PRINTER.lock();
    match guard.as_mut() {
        Some(p) => p.write(msg.as_bytes()),
        None => sys::write_all(OUT_FD.load(Ordering::Relaxed), msg.as_bytes()),
    }
}

impl Printer {
    /// Whether `log_path` names this process's report file (under `push
    /// run` with `report_format=sarif` it names the run's SARIF log).
    fn logs_to_file(&self) -> bool {
        self.opts.log_path.is_some()
            && !(self.launcher_sums_up && self.opts.report_format == ReportFormat::Sarif)
    }

    fn fd(&mut self) -> i32 {
        if !self.logs_to_file() {
            return OUT_FD.load(Ordering::Relaxed);
        }
        let Some(path) = &self.opts.log_path else {
            return OUT_FD.load(Ordering::Relaxed);
        };
        let pid = sys::getpid();
        if self.log_fd < 0 || self.log_pid != pid {
            if self.log_fd >= 0 && self.log_pid != pid {
                // The inherited descriptor is ours to close in the child.
                sys::close(self.log_fd);
            }
            let name = format!("{}\0", expand_log_path(path, pid as u32, &program_name()));
            self.log_fd = open_append(&name);
            self.log_pid = pid;
            if self.log_fd < 0 {
                let msg = format!(
                    "PUSh: cannot open log_path '{}', writing to stderr\n",
                    &name[..name.len() - 1]
                );
                sys::write_all(2, msg.as_bytes());
                return 2;
            }
        }
        self.log_fd
    }

    fn write(&mut self, bytes: &[u8]) {
        let fd = self.fd();
        sys::write_all(fd, bytes);
    }

    /// Appends one report to `<run_dir>/<pid>.reports`, tagged with the
    /// process's command line: one `write` of one line, so processes that
    /// report at once never mix their lines.
    fn collect(&mut self, v: &serde_json::Value) {
        let Some(dir) = &self.run_dir else { return };
        let pid = sys::getpid();
        if self.collect_fd < 0 || self.collect_pid != pid {
            if self.collect_fd >= 0 {
                // The inherited descriptor is ours to close in the child.
                sys::close(self.collect_fd);
            }
            self.collect_fd = open_append(&format!("{dir}/{pid}.reports\0"));
            self.collect_pid = pid;
        }
        if self.collect_fd >= 0 {
            let mut v = v.clone();
            v["command"] = serde_json::Value::String(command_line());
            v["exe"] = serde_json::Value::String(module_name());
            sys::write_all(self.collect_fd, format!("{v}\n").as_bytes());
        }
    }

    fn suppressed(&mut self, kind: Kind, frames: &[Frame]) -> bool {
        match self
            .suppressions
            .iter_mut()
            .find(|sup| sup.matches(kind, frames))
        {
            Some(sup) => {
                sup.hits += 1;
                true
            }
            None => false,
        }
    }

    pub(super) fn print(&mut self, r: &RawReport) {
        // Stacks captured at a fault start at the exact pc; stacks captured
        // in an API call hold return addresses only.
        let frames = symbolize_stack(&r.stack, r.kind.from_fault());
        if self.suppressed(r.kind, &frames) {
            SUPPRESSED.fetch_add(1, Ordering::Relaxed);
            return;
        }
        r.kind.counter().fetch_add(1, Ordering::Relaxed);
        let sy = Symbolized::of(r, frames);
        let format = self.opts.report_format;
        let value =
            (self.run_dir.is_some() || format != ReportFormat::Text).then(|| json_value(r, &sy));
        if let Some(v) = &value {
            self.collect(v);
        }
        let mut out = match format {
            ReportFormat::Json => format!("{}\n", value.as_ref().expect("built for json")),
            _ => text(r, &sy),
        };
        if format == ReportFormat::Github {
            if let Some(line) = value.as_ref().and_then(super::render::github_line) {
                out.push_str(&line);
            }
        }
        if format == ReportFormat::Sarif && self.run_dir.is_none() {
            if let Some(v) = value {
                self.kept.push(v);
            }
        }
        self.write(out.as_bytes());
    }
}

/// Opens `name` (NUL-terminated) for appending; -1 on failure.
fn open_append(name: &str) -> i32 {
    let Ok(name) = core::ffi::CStr::from_bytes_until_nul(name.as_bytes()) else {
        return -1;
    };
    sys::open(
        name,
        libc::O_WRONLY | libc::O_CREAT | libc::O_APPEND | libc::O_CLOEXEC,
        0o644,
    )
}

/// The file name `log_path=path` gives process `pid` running `program`:
/// `%p` is the pid, `%e` the program's name, `%%` a `%`; without `%p` or
/// `%e`, `.<pid>` is appended (one file per process).
pub fn expand_log_path(path: &str, pid: u32, program: &str) -> String {
    let mut out = String::new();
    let mut substituted = false;
    let mut chars = path.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('p') => {
                let _ = write!(out, "{pid}");
                substituted = true;
            }
            Some('e') => {
                out.push_str(program);
                substituted = true;
            }
            Some('%') => out.push('%'),
            Some(other) => {
                out.push('%');
                out.push(other);
            }
            None => out.push('%'),
        }
    }
    if !substituted {
        let _ = write!(out, ".{pid}");
    }
    out
}

/// This program's name (the last component of its executable's path).
fn program_name() -> String {
    let exe = module_name();
    exe.rsplit('/').next().unwrap_or("").to_string()
}

/// This process's command line, arguments separated by spaces (quoted when
/// they hold a space).
fn command_line() -> String {
    let Ok(raw) = std::fs::read("/proc/self/cmdline") else {
        return module_name();
    };
    raw.split(|&b| b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| {
            let a = String::from_utf8_lossy(a);
            if a.contains(' ') || a.is_empty() {
                format!("{a:?}")
            } else {
                a.into_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}
