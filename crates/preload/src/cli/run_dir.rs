//! The run directory of `push run`: a fresh private one, or the
//! `run_dir` option's, emptied of an earlier run's files.

use std::path::PathBuf;

/// The `run_dir` option's directory: created if missing, emptied of an
/// earlier run's files (process records, reports, suppressions, options).
pub(crate) fn prepare_run_dir(d: &std::path::Path) -> std::io::Result<()> {
    std::fs::create_dir_all(d)?;
    for e in std::fs::read_dir(d)?.flatten() {
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        let stem = name
            .strip_suffix(".reports")
            .or_else(|| name.strip_suffix(".supp"))
            .unwrap_or(name);
        let stem = stem.strip_prefix("unwatched.").unwrap_or(stem);
        if name == "options" || stem.parse::<u32>().is_ok() {
            std::fs::remove_file(e.path())?;
        }
    }
    Ok(())
}

/// A fresh, private directory for the run's process records.
pub(crate) fn make_run_dir() -> Option<PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    let base = std::env::temp_dir();
    for attempt in 0..16u32 {
        let d = base.join(format!("push-run.{}.{attempt}", std::process::id()));
        if std::fs::DirBuilder::new().mode(0o700).create(&d).is_ok() {
            return Some(d);
        }
    }
    None
}
