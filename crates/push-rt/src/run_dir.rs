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
//! `state=started|exited|disabled backend=mpk|mprotect objects=N faults=N reports=N exe=PATH`
#![forbid(unsafe_code)]

use core::sync::atomic::Ordering;

/// The environment variable naming the run directory.
pub const ENV: &str = "PUSH_RUN_DIR";

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
    pub reports: u64,
    pub exe: String,
}

impl ProcessRecord {
    /// The line written for this process.
    pub fn line(&self) -> String {
        format!(
            "state={} backend={} objects={} faults={} reports={} exe={}\n",
            self.state, self.backend, self.objects, self.faults, self.reports, self.exe
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
                "reports" => r.reports = v.parse().ok()?,
                _ => {}
            }
        }
        (!r.state.is_empty()).then_some(r)
    }
}

/// Writes this process's line, when the run has a directory.
pub fn record(state: State) {
    let Ok(dir) = std::env::var(ENV) else { return };
    let pid = std::process::id();
    let rec = ProcessRecord {
        pid,
        state: state.name().to_string(),
        backend: crate::backend::current()
            .map_or("none", |b| b.name())
            .to_string(),
        objects: crate::registry::TRACKED_OBJECTS.load(Ordering::Relaxed) as u64,
        faults: crate::fault::FAULTS.load(Ordering::Relaxed) as u64,
        reports: u64::from(crate::report::total()),
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
             so no race could be found; annotate shared objects with include/push.h (docs/api.md)\n",
            records.len(),
            if records.len() == 1 { "" } else { "es" }
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_round_trip() {
        let r = ProcessRecord {
            pid: 42,
            state: "exited".into(),
            backend: "mpk".into(),
            objects: 3,
            faults: 7,
            reports: 1,
            exe: "/tmp/a b/prog".into(),
        };
        assert_eq!(ProcessRecord::parse(42, &r.line()), Some(r));
        assert_eq!(ProcessRecord::parse(1, "garbage"), None);
    }

    #[test]
    fn notices() {
        assert!(nothing_checked_notice(&[], "./p")
            .unwrap()
            .contains("never loaded"));
        let idle = ProcessRecord {
            pid: 1,
            state: "exited".into(),
            ..ProcessRecord::default()
        };
        assert!(nothing_checked_notice(std::slice::from_ref(&idle), "./p")
            .unwrap()
            .contains("tracked an object (1 process)"));
        let busy = ProcessRecord {
            objects: 1,
            ..idle.clone()
        };
        assert_eq!(nothing_checked_notice(&[idle.clone(), busy], "./p"), None);
        let off = ProcessRecord {
            state: "disabled".into(),
            ..idle
        };
        assert!(nothing_checked_notice(&[off], "./p")
            .unwrap()
            .contains("could not start"));
    }
}
