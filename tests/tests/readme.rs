//! The README cannot drift: its quick-start command runs verbatim in a fresh
//! copy of the working tree (every tracked and unignored file, no build
//! products), and what it prints must be what the README says; the README's
//! test command must be the one CI runs; `scripts/install.sh` must give a
//! `push` that works from anywhere; and `push run` must never end a run
//! that checked nothing with a silent exit 0.
//!
//! These need cargo and gcc on the machine, so they record a skip inside the
//! QEMU guest of scripts/pku-vm.sh (its pass runs prebuilt test binaries).

use push_tests::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

fn readme() -> String {
    fs::read_to_string(repo_root().join("README.md")).expect("README.md")
}

/// The body of the first ```sh block after `heading`.
fn sh_block_after(text: &str, heading: &str) -> String {
    let start = text
        .find(heading)
        .unwrap_or_else(|| panic!("README has no '{heading}'"));
    let rest = &text[start..];
    let open = rest.find("```sh\n").expect("a ```sh block") + "```sh\n".len();
    let close = rest[open..].find("```").expect("a closed block") + open;
    rest[open..close].trim().to_string()
}

/// The `n`-th (0-based) ```sh block after `heading`.
fn nth_sh_block_after(text: &str, heading: &str, n: usize) -> String {
    let start = text.find(heading).expect("heading");
    let mut rest = &text[start..];
    for _ in 0..n {
        let open = rest.find("```sh\n").expect("block") + "```sh\n".len();
        let close = rest[open..].find("```").expect("closed") + open + 3;
        rest = &rest[close..];
    }
    sh_block_after(rest, "")
}

/// A copy of the working tree without build products, in `target/`: kept
/// between runs, so only the first run pays for the build.
fn fresh_tree() -> PathBuf {
    let root = repo_root();
    let dest = target_dir().join("readme-clone");
    let out = Command::new("git")
        .args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ])
        .current_dir(&root)
        .output()
        .expect("git ls-files");
    assert!(out.status.success(), "git ls-files failed");
    let mut kept = std::collections::HashSet::new();
    for name in out.stdout.split(|&b| b == 0).filter(|n| !n.is_empty()) {
        let name = std::str::from_utf8(name).expect("utf-8 path");
        let from = root.join(name);
        if !from.is_file() {
            continue; // deleted in the working tree
        }
        let to = dest.join(name);
        fs::create_dir_all(to.parent().unwrap()).unwrap();
        if fs::read(&to).ok() != fs::read(&from).ok() {
            fs::copy(&from, &to).unwrap_or_else(|e| panic!("copy {name}: {e}"));
        }
        kept.insert(to);
    }
    // Files the tree no longer has (a module that became a directory, say)
    // must not linger in the copy kept from an earlier run.
    remove_stale(&dest, &kept);
    dest
}

/// Removes the files under `dir` that are not in `kept`, leaving build
/// directories (`target`) alone.
fn remove_stale(dir: &std::path::Path, kept: &std::collections::HashSet<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        if path.file_name().is_some_and(|n| n == "target") {
            continue;
        }
        if path.is_dir() {
            remove_stale(&path, kept);
        } else if !kept.contains(&path) {
            let _ = fs::remove_file(&path);
        }
    }
}

/// A shell running `script` in `dir`, with none of the settings a developer
/// or the suite may have exported.
fn shell(dir: &Path, script: &str) -> Command {
    let mut cmd = Command::new("bash");
    cmd.args(["-c", script]).current_dir(dir);
    for var in [
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET_DIR",
        "PUSH_OPTIONS",
        "PUSH_LIB",
        "LD_PRELOAD",
        "PUSH_RUN_DIR",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

/// The backend `auto` picks here, which the README's command gets.
fn auto_backend() -> &'static str {
    if pku_available() {
        "mpk"
    } else {
        "mprotect"
    }
}

fn skip_in_guest() -> bool {
    if under_emulation() {
        record_skip("needs cargo and gcc on the host: runs in the host passes");
        return true;
    }
    false
}

#[test]
fn quick_start_runs_verbatim_and_prints_what_the_readme_says() {
    if skip_in_guest() {
        return;
    }
    let text = readme();
    let command = sh_block_after(&text, "## Quick start");
    assert!(
        command.contains("push run"),
        "the quick start should run something under push: {command}"
    );
    let tree = fresh_tree();
    // A release build from nothing: minutes on two cores.
    let r = run_with_timeout(shell(&tree, &command), Duration::from_secs(2700));
    assert!(!r.timed_out, "{r}");
    assert_exit_code(&r, 66);
    assert_eq!(r.stdout.trim(), "total=40000", "{r}");

    // "8 reports, one per account ... frame #0 `in audit examples/bank.c:36`"
    let reports = r.reports();
    assert_eq!(reports.len(), 8, "{r}");
    let bank_c = repo_root().join("examples/bank.c");
    let line = line_containing(bank_c.to_str().unwrap(), "/* no lock! */");
    assert_eq!(line, 36, "the README names examples/bank.c:36");
    for rep in &reports {
        assert_eq!(rep.kind, DATA_RACE, "{r}");
        assert_eq!(rep.is_write, Some(false), "{r}");
        assert!(rep.frame0_at("bank.c", line), "{r}");
        assert!(rep.frame0.as_deref().unwrap().contains(" in audit "), "{r}");
    }
    assert!(
        text.contains("in audit examples/bank.c:36"),
        "README should name the frame as printed"
    );

    // The SUMMARY line exactly as the README quotes it, with this machine's backend.
    let quoted = text
        .lines()
        .find_map(|l| {
            let s = l.trim().trim_matches('`');
            s.starts_with("SUMMARY: PUSh:").then(|| s.to_string())
        })
        .expect("README quotes the SUMMARY line");
    let expected = quoted.replace("[backend mpk]", &format!("[backend {}]", auto_backend()));
    let summary = r
        .stderr
        .lines()
        .find(|l| l.starts_with("SUMMARY: PUSh:"))
        .unwrap_or_else(|| panic!("no SUMMARY line\n{r}"));
    // How many accesses faulted varies by run and backend; the rest is exact.
    let without_count = |s: &str| -> String {
        match s.rsplit_once(", ") {
            Some((head, tail)) if tail.ends_with(" accesses checked") => {
                format!("{head}, N accesses checked")
            }
            _ => s.to_string(),
        }
    };
    assert_eq!(without_count(summary), without_count(&expected), "{r}");
    // Without PKU: the one line saying so, and nothing else unexpected.
    let portable_lines = r
        .stderr
        .lines()
        .filter(|l| l.contains("portable mode"))
        .count();
    assert_eq!(
        portable_lines,
        usize::from(auto_backend() == "mprotect"),
        "{r}"
    );
}

#[test]
fn readme_test_command_is_what_ci_runs() {
    // Running the whole suite from inside itself would recurse: CI runs
    // `.ci/run`, so the README's test command must be exactly what it runs.
    let text = readme();
    let command = nth_sh_block_after(&text, "## Quick start", 1);
    assert_eq!(command, "scripts/test.sh");
    let ci = fs::read_to_string(repo_root().join(".ci/run")).expect(".ci/run");
    let last = ci
        .lines()
        .rfind(|l| !l.trim().is_empty())
        .expect("a command");
    assert_eq!(last.trim(), format!("exec ./{command}"), ".ci/run:\n{ci}");
}

#[test]
fn installed_push_finds_its_library_and_reports() {
    if skip_in_guest() {
        return;
    }
    let prefix = scratch_dir("install-prefix");
    let r = run_with_timeout(
        shell(
            &repo_root(),
            &format!("scripts/install.sh {}", prefix.display()),
        ),
        Duration::from_secs(1800),
    );
    assert_exit_code(&r, 0);
    for f in ["bin/push", "bin/push-wait", "lib/libpush.so"] {
        assert!(prefix.join(f).is_file(), "{f} not installed\n{r}");
    }
    let bank = compile_c(repo_root().join("examples/bank.c").to_str().unwrap());
    // From another directory, with only PREFIX/bin on PATH for `push`.
    let path = format!(
        "{}:{}",
        prefix.join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = shell(
        &std::env::temp_dir(),
        &format!("push run -- {}", bank.display()),
    );
    cmd.env("PATH", path);
    let r = run_with_timeout(cmd, scaled(DEFAULT_TIMEOUT));
    assert_exit_code(&r, 66);
    assert_eq!(r.reports().len(), 8, "{r}");
}

#[test]
fn a_run_that_tracks_nothing_says_so() {
    require_pku!();
    if skip_in_guest() {
        return;
    }
    // An unannotated program: its own exit status, and one line saying
    // that nothing was checked.
    let r = run_cli_args(Path::new("/bin/sh"), &[], &[], &["-c", "exit 3"]);
    assert_exit_code(&r, 3);
    let notices: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| l.starts_with("PUSh: nothing was checked"))
        .collect();
    assert_eq!(notices.len(), 1, "{r}");
    assert!(notices[0].contains("tracked an object"), "{r}");

    // An annotated one says nothing of the kind.
    let clean = compile_c("private_clean");
    let r = run_cli(&clean, &[]);
    assert_clean(&r);
    assert!(!r.stderr.contains("nothing was checked"), "{r}");

    // A static binary cannot load the runtime: said once, before it runs.
    let dir = scratch_dir("static-bin");
    let src = dir.join("s.c");
    fs::write(&src, "int main(void) { return 5; }\n").unwrap();
    let bin = dir.join("s");
    let ok = Command::new("gcc")
        .args(["-static", "-o"])
        .arg(&bin)
        .arg(&src)
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        record_skip(
            "gcc -static failed (no static libc installed): static-binary notice unchecked",
        );
        return;
    }
    let r = run_cli(&bin, &[]);
    assert_exit_code(&r, 5);
    let lines: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| l.contains("unchecked") || l.contains("nothing was checked"))
        .collect();
    assert_eq!(lines.len(), 1, "{r}");
    assert!(lines[0].contains("statically linked"), "{r}");
}
