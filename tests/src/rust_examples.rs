//! Rust programs: the examples of `examples/rust`, built with cargo into a
//! target directory of their own, and the scenarios for them.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use crate::assert::{assert_clean, assert_exit_code, assert_race_access, assert_stdout};
use crate::parse::{line_containing, Access, Report, DATA_RACE};
use crate::paths::{repo_root, target_dir};
use crate::run::{run_native, run_with_timeout, RACE_EXIT};
use crate::scenarios::{run_mode, MODES};

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

/// [`check_clean`](crate::check_clean) for a Rust example.
pub fn check_rust_clean(name: &str, expected_stdout: &str) {
    let bin = check_rust_native(name, expected_stdout);
    crate::require_pku!();
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

/// [`check_racy`](crate::check_racy) for a Rust example: natively exit 0 and
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
    crate::require_pku!(None);
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
