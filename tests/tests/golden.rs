//! Golden files of the report formats (docs/reports.md): the whole stderr
//! of `push run -- prog`, text and JSON, for one program per report shape,
//! normalized and compared with `tests/golden/<prog>.<format>.stderr`.
//!
//! The normalizer replaces what changes between runs and machines:
//!
//! * every `0x...` number (addresses, pcs, locks) becomes `0x<addr>`;
//! * pids and tids become `<pid>` and `<tid>` (thread numbers `T<n>` and
//!   names stay: threads are numbered in creation order, and these programs
//!   create theirs in a fixed order);
//! * the target directory becomes `<target>` and the repository `<repo>`;
//! * each stack keeps the program's own frames (files under `<repo>`) and
//!   loses the frames from the first one outside it on (libc's
//!   `start_thread`, `__libc_start_call_main`: their file names depend on
//!   the machine's libc debug info);
//! * the backend (`[backend mprotect]`, `"backend":"mprotect"`) becomes
//!   `<backend>`: the one line that differs between mpk and mprotect. The
//!   summary's `keys_given_to_program` stays (0: these programs allocate
//!   no protection keys), as does `period` (0: one object, no rehash).
//!
//! JSON lines are pretty-printed (keys in the runtime's order) so that a
//! mismatch shows as a readable diff. After an intended change of the
//! format, regenerate the files with
//! `PUSH_UPDATE_GOLDEN=1 cargo test --release -p push-tests --test golden`
//! and review the diff.

use push_tests::*;
use serde_json::Value;
use std::fs;
use std::path::PathBuf;

const UPDATE_ENV: &str = "PUSH_UPDATE_GOLDEN";

#[derive(Clone, Copy)]
enum Format {
    Text,
    Json,
}

impl Format {
    fn name(self) -> &'static str {
        match self {
            Format::Text => "text",
            Format::Json => "json",
        }
    }
}

fn golden_path(program: &str, format: Format) -> PathBuf {
    repo_root()
        .join("tests")
        .join("golden")
        .join(format!("{program}.{}.stderr", format.name()))
}

/// Replaces the digits after each `prefix` in `s` with `with`.
fn mask_number_after(s: &str, prefix: &str, with: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find(prefix) {
        let after = &rest[i + prefix.len()..];
        let digits = after.len() - after.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        out.push_str(&rest[..i + prefix.len()]);
        out.push_str(if digits > 0 { with } else { "" });
        rest = &after[digits..];
    }
    out.push_str(rest);
    out
}

/// Replaces every `0x<hex digits>` in `s` with `0x<addr>`.
fn mask_hex(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find("0x") {
        let after = &rest[i + 2..];
        let digits = after.len()
            - after
                .trim_start_matches(|c: char| c.is_ascii_hexdigit())
                .len();
        out.push_str(&rest[..i + 2]);
        out.push_str(if digits > 0 { "<addr>" } else { "" });
        rest = &after[digits..];
    }
    out.push_str(rest);
    out
}

/// What every string of a report goes through: paths, addresses, ids.
fn normalize_str(s: &str) -> String {
    let target = target_dir().to_string_lossy().into_owned();
    let repo = repo_root().to_string_lossy().into_owned();
    let s = s.replace(&target, "<target>").replace(&repo, "<repo>");
    let s = mask_hex(&s);
    let s = mask_number_after(&s, "(pid=", "<pid>");
    let s = mask_number_after(&s, "(tid ", "<tid>");
    let s = s
        .replace("[backend mprotect]", "[backend <backend>]")
        .replace("[backend mpk]", "[backend <backend>]");
    mask_accesses_checked(&s)
}

/// How many accesses faulted and were checked depends on the backend
/// (under `mprotect` every first access in a window faults): the SUMMARY's
/// count becomes `<n> accesses checked`.
fn mask_accesses_checked(s: &str) -> String {
    for suffix in [" accesses checked", " access checked"] {
        if let Some(end) = s.find(suffix) {
            let start = s[..end]
                .rfind(|c: char| !c.is_ascii_digit())
                .map_or(0, |i| i + 1);
            return format!(
                "{}<n> accesses checked{}",
                &s[..start],
                &s[end + suffix.len()..]
            );
        }
    }
    s.to_string()
}

/// Whether a normalized text line is a stack frame (`#N 0x<addr> in ...`).
fn is_frame(line: &str) -> bool {
    let t = line.trim_start();
    t.strip_prefix('#')
        .is_some_and(|r| r.starts_with(|c: char| c.is_ascii_digit()))
}

/// The text format: each line normalized; in each stack, the frames from
/// the first one outside the repository on are dropped.
fn normalize_text(stderr: &str) -> String {
    let mut out = String::new();
    let mut foreign = false;
    for line in stderr.lines() {
        let line = normalize_str(line);
        if is_frame(&line) {
            foreign |= !line.contains("<repo>/");
            if foreign {
                continue;
            }
        } else {
            foreign = false;
        }
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// One JSON value, in place: ids masked, strings normalized, stacks cut
/// at the first frame outside the repository.
fn normalize_json(v: &mut Value) {
    match v {
        Value::Object(map) => {
            for (key, value) in map.iter_mut() {
                match (key.as_str(), &mut *value) {
                    ("pid", Value::Number(_)) => *value = "<pid>".into(),
                    ("tid", Value::Number(_)) => *value = "<tid>".into(),
                    ("backend", Value::String(_)) => *value = "<backend>".into(),
                    ("accesses_checked", Value::Number(_)) => *value = "<n>".into(),
                    ("stack" | "allocation_stack", Value::Array(frames)) => {
                        let own = frames
                            .iter()
                            .position(|f| {
                                !f["file"]
                                    .as_str()
                                    .is_some_and(|file| normalize_str(file).starts_with("<repo>/"))
                            })
                            .unwrap_or(frames.len());
                        frames.truncate(own);
                        normalize_json(value);
                    }
                    _ => normalize_json(value),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(normalize_json),
        Value::String(s) => *s = normalize_str(s),
        _ => {}
    }
}

/// The JSON format: each JSON line normalized and pretty-printed; any
/// other line as in the text format.
fn normalize_json_lines(stderr: &str) -> String {
    let mut out = String::new();
    for line in stderr.lines() {
        if line.starts_with('{') {
            let mut v: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("a JSON line that does not parse ({e}): {line}"));
            normalize_json(&mut v);
            out.push_str(&serde_json::to_string_pretty(&v).expect("serialize"));
            out.push('\n');
        } else {
            out.push_str(&normalize_text(line));
        }
    }
    out
}

/// A line diff of `expected` and `actual` (longest common subsequence),
/// unified style: `-` expected only, `+` actual only, two lines of
/// context, `@@ -line +line @@` before each hunk.
fn unified_diff(expected: &str, actual: &str) -> String {
    let a: Vec<&str> = expected.lines().collect();
    let b: Vec<&str> = actual.lines().collect();
    // lcs[i][j]: length of the LCS of a[i..] and b[j..].
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    // (tag, line in expected, line in actual, text)
    let mut ops: Vec<(char, usize, usize, &str)> = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            ops.push((' ', i, j, a[i]));
            (i, j) = (i + 1, j + 1);
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            ops.push(('-', i, j, a[i]));
            i += 1;
        } else {
            ops.push(('+', i, j, b[j]));
            j += 1;
        }
    }
    const CONTEXT: usize = 2;
    let near_change = |k: usize| {
        let lo = k.saturating_sub(CONTEXT);
        let hi = (k + CONTEXT + 1).min(ops.len());
        ops[lo..hi].iter().any(|op| op.0 != ' ')
    };
    let mut out = String::from("--- expected (golden file)\n+++ actual\n");
    let mut in_hunk = false;
    for (k, &(tag, ei, ai, text)) in ops.iter().enumerate() {
        if !near_change(k) {
            in_hunk = false;
            continue;
        }
        if !in_hunk {
            out.push_str(&format!("@@ -{} +{} @@\n", ei + 1, ai + 1));
            in_hunk = true;
        }
        out.push_str(&format!("{tag}{text}\n"));
    }
    out
}

/// Runs `push run -- program` (report format `format`, the suite's
/// backend), checks that it reported (exit 66), and compares its
/// normalized stderr with the golden file; with `PUSH_UPDATE_GOLDEN=1`,
/// writes the golden file instead.
fn check_golden(program: &str, format: Format) {
    let bin = compile_c(program);
    require_pku!();
    // Setting an option makes the harness name the suite's backend too
    // (see `run_cli_args`): with `backend=auto` a machine without PKU
    // would print a notice first (`no protection keys here ...`).
    let options = format!("report_format={}", format.name());
    let r = run_cli_args(&bin, &[], &[("PUSH_OPTIONS", &options)], &[]);
    assert_exit_code(&r, RACE_EXIT);
    let actual = match format {
        Format::Text => normalize_text(&r.stderr),
        Format::Json => normalize_json_lines(&r.stderr),
    };
    let path = golden_path(program, format);
    if std::env::var_os(UPDATE_ENV).is_some_and(|v| v == "1") {
        fs::create_dir_all(path.parent().expect("golden dir")).expect("create tests/golden");
        fs::write(&path, &actual)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        eprintln!("{UPDATE_ENV}=1: wrote {}", path.display());
        return;
    }
    let expected = fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read {} ({e}); create it with\n  {UPDATE_ENV}=1 cargo test --release \
             -p push-tests --test golden\nnormalized stderr:\n{actual}\n{r}",
            path.display()
        )
    });
    assert!(
        expected == actual,
        "{program} ({} format) does not match {}:\n{}\n\
         If the change is intended, regenerate the golden files with\n  \
         {UPDATE_ENV}=1 cargo test --release -p push-tests --test golden\n\
         and review their diff.\n{r}",
        format.name(),
        path.display(),
        unified_diff(&expected, &actual)
    );
}

// One data race on a private object.
#[test]
fn data_race_private_text() {
    check_golden("private_race_write", Format::Text);
}

#[test]
fn data_race_private_json() {
    check_golden("private_race_write", Format::Json);
}

// One data race on an object protected by a lock that is not held.
#[test]
fn data_race_protected_by_text() {
    check_golden("mutex_race_nolock", Format::Text);
}

#[test]
fn data_race_protected_by_json() {
    check_golden("mutex_race_nolock", Format::Json);
}

// Two annotation errors: one without an object (EINVAL), one with (EPERM).
#[test]
fn annotation_errors_text() {
    check_golden("misuse", Format::Text);
}

#[test]
fn annotation_errors_json() {
    check_golden("misuse", Format::Json);
}

// An unordered policy change, rule 2: an access not ordered after the
// change (push_transfer).
#[test]
fn unordered_access_text() {
    check_golden("hb_transfer_race", Format::Text);
}

#[test]
fn unordered_access_json() {
    check_golden("hb_transfer_race", Format::Json);
}

// An unordered policy change, rule 1: push_acquire not ordered after the
// previous push_release.
#[test]
fn unordered_change_text() {
    check_golden("hb_acquire_race", Format::Text);
}

#[test]
fn unordered_change_json() {
    check_golden("hb_acquire_race", Format::Json);
}

#[test]
fn normalizer_masks_what_varies() {
    let repo = repo_root().display().to_string();
    let text = format!(
        "WARNING: PUSh: data race (pid=4242)\n  \
         Write at 0x7f2a1c000008 (offset 8 in object 0x7f2a1c000000) by thread T1 \"w\" (tid 4243):\n    \
         #0 0x5555555551a9 in writer {repo}/tests/c/racy.c:14\n    \
         #1 0x7ffff7e2a144 in start_thread ./nptl/pthread_create.c:442\n    \
         #2 0x7ffff7e2a200 in f {repo}/tests/c/racy.c:3\n\n  \
         Object 0x7f2a1c000000 of 64 bytes, policy private(T0)\n\
         SUMMARY: PUSh: 1 report (1 data race, 0 unordered policy changes, 0 annotation errors) [backend mpk]\n"
    );
    assert_eq!(
        normalize_text(&text),
        "WARNING: PUSh: data race (pid=<pid>)\n  \
         Write at 0x<addr> (offset 8 in object 0x<addr>) by thread T1 \"w\" (tid <tid>):\n    \
         #0 0x<addr> in writer <repo>/tests/c/racy.c:14\n\n  \
         Object 0x<addr> of 64 bytes, policy private(T0)\n\
         SUMMARY: PUSh: 1 report (1 data race, 0 unordered policy changes, 0 annotation errors) [backend <backend>]\n"
    );
    let json = format!(
        r#"{{"pid":7,"access":{{"thread":{{"id":1,"tid":8}},"stack":[{{"pc":"0x1","file":"{repo}/tests/c/a.c"}},{{"pc":"0x2","file":null}}]}},"summary":{{"backend":"mprotect"}}}}"#
    );
    let mut v: Value = serde_json::from_str(&json).unwrap();
    normalize_json(&mut v);
    assert_eq!(
        v.to_string(),
        r#"{"pid":"<pid>","access":{"thread":{"id":1,"tid":"<tid>"},"stack":[{"pc":"0x<addr>","file":"<repo>/tests/c/a.c"}]},"summary":{"backend":"<backend>"}}"#
    );
}

#[test]
fn diff_shows_changed_lines_with_context() {
    let d = unified_diff("a\nb\nc\nd\ne\nf\ng\n", "a\nb\nc\nD\ne\nf\ng\n");
    assert_eq!(
        d,
        "--- expected (golden file)\n+++ actual\n@@ -2 +2 @@\n b\n c\n-d\n+D\n e\n f\n"
    );
}
