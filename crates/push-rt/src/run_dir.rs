//! The run directory of `push run`: what each process of a run checked.
//!
//! `push run` creates a directory and names it in `PUSH_RUN_DIR`; every
//! process of the run that loads the runtime (the program, its forked and
//! exec'd children) writes one line to `<dir>/<pid>` when its runtime
//! starts and again at exit, with what it tracked, checked and reported.
//! When the program ends, the launcher (`push-wait`) reads them all, so it
//! can say when nothing was checked, instead of a silent exit 0. Plain
//! `LD_PRELOAD` runs (no `PUSH_RUN_DIR`) write nothing.
//!
//! Line format (one line, fields separated by spaces, `exe` last):
//! `state=started|exited|disabled backend=mpk|mprotect objects=N faults=N unwatched=N parked=N reports=N dropped=N keys=N exe=PATH`
//!
//! Next to it, a process that reported writes `<dir>/<pid>.reports`: each
//! report as one JSON line (the JSON format of docs/reports.md plus its
//! `command` line and `exe`), appended as it is printed, so the reports of
//! a process killed later are not lost. With suppressions, it writes
//! `<dir>/<pid>.supp` at exit: `HITS<TAB>FILE:LINE<TAB>kind:pattern` lines.
//! `push run` writes its options to `<dir>/options`. At the end,
//! [`end_of_run`] sums up the whole run: one SUMMARY, identical reports of
//! several processes counted once, the exit status.
#![forbid(unsafe_code)]

use core::sync::atomic::Ordering;

/// The environment variable naming the run directory.
pub use crate::options::RUN_DIR_ENV as ENV;

/// Where a process's runtime is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Started,
    Exited,
    /// The runtime could not start: the process runs unchecked.
    Disabled,
}

impl State {
    pub fn name(self) -> &'static str {
        match self {
            State::Started => "started",
            State::Exited => "exited",
            State::Disabled => "disabled",
        }
    }
}

/// What one process of the run checked, as written to its line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProcessRecord {
    pub pid: u32,
    pub state: String,
    pub backend: String,
    pub objects: u64,
    pub faults: u64,
    /// Objects the annotation-free mode stopped watching.
    pub unwatched: u64,
    /// Times a cost budget paused checking (objects parked or suspended).
    pub parked: u64,
    pub reports: u64,
    pub dropped: u64,
    /// Protection keys PUSh gave to the program.
    pub keys: u64,
    /// The process's effective `exitcode` and `print_suppressions` (they
    /// may come from its `push_default_options()`); None from older runtimes.
    pub exitcode: Option<i32>,
    pub print_suppressions: bool,
    pub exe: String,
}

impl ProcessRecord {
    /// The line written for this process.
    pub fn line(&self) -> String {
        format!(
            "state={} backend={} objects={} faults={} unwatched={} parked={} reports={} dropped={} keys={}{}{} exe={}\n",
            self.state,
            self.backend,
            self.objects,
            self.faults,
            self.unwatched,
            self.parked,
            self.reports,
            self.dropped,
            self.keys,
            self.exitcode
                .map_or(String::new(), |c| format!(" exitcode={c}")),
            if self.print_suppressions {
                " print_suppressions=1"
            } else {
                ""
            },
            self.exe
        )
    }

    /// Parses a line written by [`ProcessRecord::line`]; unknown fields are
    /// ignored so older and newer runtimes can share a run.
    pub fn parse(pid: u32, line: &str) -> Option<ProcessRecord> {
        let line = line.trim_end();
        let (fields, exe) = match line.split_once(" exe=") {
            Some((f, e)) => (f, e.to_string()),
            None => (line, String::new()),
        };
        let mut r = ProcessRecord {
            pid,
            exe,
            ..ProcessRecord::default()
        };
        for field in fields.split(' ') {
            let (k, v) = field.split_once('=')?;
            match k {
                "state" => r.state = v.to_string(),
                "backend" => r.backend = v.to_string(),
                "objects" => r.objects = v.parse().ok()?,
                "faults" => r.faults = v.parse().ok()?,
                "unwatched" => r.unwatched = v.parse().ok()?,
                "parked" => r.parked = v.parse().ok()?,
                "reports" => r.reports = v.parse().ok()?,
                "dropped" => r.dropped = v.parse().ok()?,
                "keys" => r.keys = v.parse().ok()?,
                "exitcode" => r.exitcode = Some(v.parse().ok()?),
                "print_suppressions" => r.print_suppressions = v == "1",
                _ => {}
            }
        }
        (!r.state.is_empty()).then_some(r)
    }
}

/// Writes this process's line, when the run has a directory.
pub fn record(state: State) {
    let Some(dir) = std::env::var(ENV)
        .ok()
        .or_else(|| crate::options().run_dir.clone())
    else {
        return;
    };
    let pid = std::process::id();
    let rec = ProcessRecord {
        pid,
        state: state.name().to_string(),
        backend: crate::backend::current()
            .map_or("none", |b| b.name())
            .to_string(),
        objects: crate::counters::TRACKED_OBJECTS.get() as u64,
        faults: crate::counters::FAULTS.load(Ordering::Relaxed) as u64,
        unwatched: crate::counters::UNWATCHED_OBJECTS.load(Ordering::Relaxed) as u64,
        parked: crate::auto::budget::paused() as u64,
        reports: u64::from(crate::report::total()),
        dropped: u64::from(crate::report::dropped()),
        keys: crate::domains::keys_given_to_program() as u64,
        exitcode: Some(crate::options().exitcode),
        print_suppressions: crate::options().print_suppressions,
        exe: std::env::current_exe()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
    };
    // Best effort: a run directory that went away loses only this note.
    let _ = std::fs::write(format!("{dir}/{pid}"), rec.line());
}

/// Reads every process's line from a run directory.
pub fn read_all(dir: &std::path::Path) -> Vec<ProcessRecord> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<ProcessRecord> = entries
        .flatten()
        .filter_map(|e| {
            let pid = e.file_name().to_str()?.parse().ok()?;
            let text = std::fs::read_to_string(e.path()).ok()?;
            ProcessRecord::parse(pid, &text)
        })
        .collect();
    out.sort_by_key(|r| r.pid);
    out
}

/// What the launcher says at the end of a run, if anything: `None` when
/// something was tracked or reported.
pub fn nothing_checked_notice(records: &[ProcessRecord], program: &str) -> Option<String> {
    if records.is_empty() {
        return Some(format!(
            "PUSh: nothing was checked: '{program}' never loaded the runtime (libpush.so), \
             so no race could be found (a static or setuid binary, or not an x86-64 program)\n"
        ));
    }
    if records.iter().all(|r| r.state == State::Disabled.name()) {
        return Some(
            "PUSh: nothing was checked: the runtime could not start (see its warning above), \
             so no race could be found\n"
                .to_string(),
        );
    }
    let objects: u64 = records.iter().map(|r| r.objects).sum();
    let reports: u64 = records.iter().map(|r| r.reports).sum();
    (objects == 0 && reports == 0).then(|| {
        format!(
            "PUSh: nothing was checked: no process of this run tracked an object ({} process{}), \
             so no race could be found; run it with --auto to watch its heap objects (docs/auto.md), \
             or annotate shared objects with include/push.h (docs/api.md)\n",
            records.len(),
            if records.len() == 1 { "" } else { "es" }
        )
    })
}

/// What the processes of a run checked, summed.
pub fn checked(records: &[ProcessRecord]) -> crate::report::Checked {
    crate::report::Checked {
        objects: records.iter().map(|r| r.objects).sum(),
        accesses: records.iter().map(|r| r.faults).sum(),
        unwatched: records.iter().map(|r| r.unwatched).sum(),
        parked: records.iter().map(|r| r.parked).sum(),
    }
}

/// Every report the processes of a run collected, in pid order, each
/// process's in the order it printed them.
pub fn read_reports(dir: &std::path::Path) -> Vec<serde_json::Value> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<(u32, std::path::PathBuf)> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name();
            let pid = name.to_str()?.strip_suffix(".reports")?.parse().ok()?;
            Some((pid, e.path()))
        })
        .collect();
    files.sort();
    files
        .iter()
        .filter_map(|(_, p)| std::fs::read_to_string(p).ok())
        .flat_map(|text| {
            text.lines()
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect::<Vec<serde_json::Value>>()
        })
        .collect()
}

/// The suppressions of every process of a run, summed by line:
/// (`FILE:LINE`, `kind:pattern`, hits), in file order.
pub fn read_suppressions(dir: &std::path::Path) -> Vec<(String, String, u64)> {
    let mut out: Vec<(String, String, u64)> = Vec::new();
    for text in per_process_texts(dir, |name| name.strip_suffix(".supp")) {
        for line in text.lines() {
            let mut f = line.splitn(3, '\t');
            let (Some(hits), Some(src), Some(rule)) = (f.next(), f.next(), f.next()) else {
                continue;
            };
            let hits: u64 = hits.parse().unwrap_or(0);
            match out.iter_mut().find(|(s, r, _)| s == src && r == rule) {
                Some(e) => e.2 += hits,
                None => out.push((src.to_string(), rule.to_string(), hits)),
            }
        }
    }
    out
}

/// What `push run` prints and returns at the end of a run.
pub struct EndOfRun {
    /// Lines for stderr.
    pub text: String,
    pub exit_code: i32,
}

/// Sums up a finished run from its directory: the notice when nothing was
/// checked, one line per distinct report when several processes took part,
/// one SUMMARY for the whole run, the SARIF log (`report_format=sarif`),
/// the suppressions (`print_suppressions=1`); exit status `exitcode` when
/// any process reported, else `status` (the program's own). `main_pid` is
/// the program's pid (0: unknown): when the launcher's options leave
/// `exitcode` at its default, the program's own (its
/// `push_default_options()`) decides.
pub fn end_of_run(
    dir: &std::path::Path,
    opts: &crate::options::Options,
    program: &str,
    told: bool,
    status: i32,
    main_pid: u32,
) -> EndOfRun {
    use crate::options::ReportFormat;
    use std::fmt::Write as _;
    let records = read_all(dir);
    let reports = read_reports(dir);
    let mut text = String::new();
    if let Some(notice) = nothing_checked_notice(&records, program) {
        if !told || !records.is_empty() {
            text.push_str(&notice);
        }
    }
    let count = |k: &str| reports.iter().filter(|r| r["kind"] == k).count() as u64;
    let (races, unordered, annotations) = (
        count("data race"),
        count("unordered policy change"),
        count("annotation error"),
    );
    let total = reports.len() as u64;
    let mut pids: Vec<u64> = records.iter().map(|r| u64::from(r.pid)).collect();
    pids.extend(reports.iter().filter_map(|r| r["pid"].as_u64()));
    pids.sort_unstable();
    pids.dedup();
    let processes = pids.len() as u64;
    let mut reporting: Vec<u64> = reports.iter().filter_map(|r| r["pid"].as_u64()).collect();
    reporting.sort_unstable();
    reporting.dedup();
    let groups = crate::report::render::group(&reports);
    let checked = checked(&records);
    let dropped: u64 = records.iter().map(|r| r.dropped).sum();
    let mut backends: Vec<&str> = records
        .iter()
        .map(|r| r.backend.as_str())
        .filter(|b| !b.is_empty() && *b != "none")
        .collect();
    backends.sort_unstable();
    backends.dedup();
    let mut backend = if backends.is_empty() {
        "none".to_string()
    } else {
        backends.join("+")
    };
    let keys = records.iter().map(|r| r.keys).max().unwrap_or(0);
    if keys > 0 {
        let _ = write!(
            backend,
            ", {keys} protection key{} given to the program",
            if keys == 1 { "" } else { "s" }
        );
    }
    for (path, reason) in read_unwatched_notes(dir) {
        let _ = writeln!(
            text,
            "PUSh: not watched: '{path}' {reason}, so it ran unchecked"
        );
    }
    if processes > 1 {
        for g in &groups {
            text.push_str(&crate::report::render::group_line(g));
        }
    }
    // A clean run stays silent, as a correct program's output must stay
    // its own (a run that checked nothing got the notice above); every
    // SUMMARY says what was checked.
    if total > 0 || (processes > 1 && dropped > 0) {
        let counts = crate::report::printer::SummaryCounts {
            reports: total,
            data_races: races,
            unordered,
            annotations,
            backend: &backend,
            checked,
        };
        match opts.report_format {
            ReportFormat::Json => {
                let mut v = crate::report::printer::summary_json(&counts, keys);
                v["summary"]["backend"] = backends.join("+").into();
                if processes > 1 {
                    v["summary"]["processes"] = processes.into();
                    v["summary"]["processes_reported"] = (reporting.len() as u64).into();
                    v["summary"]["distinct_reports"] = (groups.len() as u64).into();
                    v["summary"]["dropped"] = dropped.into();
                }
                let _ = writeln!(text, "{v}");
            }
            _ => {
                let tree = if processes > 1 {
                    format!(
                        " in {processes} processes ({} reported, {} distinct report{}), {dropped} dropped",
                        reporting.len(),
                        groups.len(),
                        if groups.len() == 1 { "" } else { "s" },
                    )
                } else {
                    String::new()
                };
                let line = crate::report::summary_line(&counts, &tree);
                let _ = writeln!(text, "{line}");
            }
        }
    }
    if opts.report_format == ReportFormat::Sarif {
        let file = sarif_file(opts, program);
        let cwd = std::env::current_dir()
            .map(|d| d.display().to_string())
            .unwrap_or_default();
        let doc = crate::report::render::sarif(
            &reports,
            &cwd,
            env!("CARGO_PKG_VERSION"),
            (!records.is_empty()).then_some(checked),
        );
        match std::fs::write(&file, format!("{doc:#}\n")) {
            Ok(()) => {
                let _ = writeln!(
                    text,
                    "PUSh: SARIF log written to {file} ({} result{})",
                    groups.len(),
                    if groups.len() == 1 { "" } else { "s" }
                );
            }
            Err(e) => {
                let _ = writeln!(text, "PUSh: cannot write the SARIF log {file}: {e}");
            }
        }
    }
    if opts.print_suppressions || records.iter().any(|r| r.print_suppressions) {
        text.push_str(&crate::report::suppressions_text(&read_suppressions(dir)));
    }
    let default_code = crate::options::Options::default().exitcode;
    let exitcode = match records.iter().find(|r| r.pid == main_pid) {
        Some(ProcessRecord {
            exitcode: Some(c), ..
        }) if opts.exitcode == default_code => *c,
        _ => opts.exitcode,
    };
    EndOfRun {
        text,
        exit_code: if total > 0 { exitcode } else { status },
    }
}

/// Where `push run` writes the run's SARIF log: `log_path` (with `%p` the
/// launcher's pid and `%e` the program's name), else `push.sarif`.
pub fn sarif_file(opts: &crate::options::Options, program: &str) -> String {
    match &opts.log_path {
        Some(p) if p.contains('%') => crate::report::expand_log_path(
            p,
            std::process::id(),
            program.rsplit('/').next().unwrap_or(program),
        ),
        Some(p) => p.clone(),
        None => "push.sarif".to_string(),
    }
}

/// The programs of the run that could not be watched, as `exec_note`
/// noted them: (path, reason), each once.
pub fn read_unwatched_notes(dir: &std::path::Path) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let prefix = crate::exec_note::NOTES_PREFIX;
    for text in per_process_texts(dir, |name| name.strip_prefix(prefix)) {
        for line in text.lines() {
            if let Some((p, r)) = line.split_once('\t') {
                if !out.iter().any(|(q, _)| q == p) {
                    out.push((p.to_string(), r.to_string()));
                }
            }
        }
    }
    out
}

/// The contents of a run directory's per-process files, in name order:
/// those whose name `pid_part` maps to a pid (`"1234.supp"` to `"1234"`).
pub fn per_process_texts(
    dir: &std::path::Path,
    pid_part: impl Fn(&str) -> Option<&str>,
) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut texts: Vec<(String, String)> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_str()?.to_string();
            pid_part(&name)?.parse::<u32>().ok()?;
            Some((name, std::fs::read_to_string(e.path()).ok()?))
        })
        .collect();
    texts.sort();
    texts.into_iter().map(|(_, text)| text).collect()
}

#[cfg(test)]
mod tests;
