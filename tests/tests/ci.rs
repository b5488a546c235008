//! The CI job (issue 14): whole process trees under one `push run` (shell
//! scripts, pipelines, fork + exec, posix_spawn, make), one SUMMARY for the
//! tree, exit status, signals forwarded to the program, `log_path` with
//! `%p`/`%e`, 16 processes reporting at once, the SARIF and GitHub formats
//! and `push report`.

use push_tests::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const RACY: &str = "private_race_write";

/// The SUMMARY line of a `push run`'s stderr (the last one).
fn summary_line(r: &RunResult) -> &str {
    r.stderr
        .lines()
        .rev()
        .find(|l| l.starts_with("SUMMARY: PUSh:"))
        .unwrap_or_else(|| panic!("no SUMMARY line\n{r}"))
}

/// The end-of-run line that groups a distinct data race's reports.
fn data_race_group_line(r: &RunResult) -> &str {
    r.stderr
        .lines()
        .find(|l| l.starts_with("PUSh: data race at "))
        .unwrap_or_else(|| panic!("no per-report line\n{r}"))
}

fn summary_lines(r: &RunResult) -> usize {
    r.stderr
        .lines()
        .filter(|l| l.starts_with("SUMMARY: PUSh:"))
        .count()
}

/// `push run <flags> -- sh -c SCRIPT`.
fn run_sh(flags: &[&str], script: &str) -> RunResult {
    run_cli_args(Path::new("sh"), flags, &[], &["-c", script])
}

fn racy_reports(r: &RunResult) -> Vec<Report> {
    parse_reports(&r.stderr)
        .into_iter()
        .filter(|x| x.kind == DATA_RACE)
        .collect()
}

fn assert_racy_site(r: &RunResult, n: usize) {
    let reports = racy_reports(r);
    assert_eq!(reports.len(), n, "{r}");
    let line = marker_line(RACY, "write");
    for rep in &reports {
        assert!(rep.frame0_at("private_race_write.c", line), "{r}");
    }
}

#[test]
fn a_shell_script_that_forks_and_execs_is_watched_whole() {
    require_pku!();
    let racy = compile_c(RACY);
    let clean = compile_c("racy_clean");
    let script = format!(
        "{clean} >/dev/null; {racy} | cat; ( {racy} ); {clean} | cat >/dev/null; exit 3",
        racy = racy.display(),
        clean = clean.display()
    );
    let r = run_sh(&[], &script);
    // The runner said 3, but two of its processes reported.
    assert_exit_code(&r, RACE_EXIT);
    assert_racy_site(&r, 2);
    assert_eq!(summary_lines(&r), 1, "one SUMMARY for the whole tree\n{r}");
    let s = summary_line(&r);
    assert!(
        s.starts_with("SUMMARY: PUSh: 2 reports (2 data races, 0 unordered policy changes, 0 annotation errors) [backend "),
        "{r}"
    );
    assert!(s.contains("(2 reported, 1 distinct report)"), "{r}");
    let procs: u32 = s
        .split(" in ")
        .nth(1)
        .and_then(|t| t.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no process count in {s}"));
    // sh, racy_clean x2, racy x2, cat x2 and the subshell (a fork).
    assert!(procs >= 7, "{procs} processes\n{r}");
    assert!(s.contains(", 0 dropped; "), "{r}");
    // What the tree checked: the two racy runs' objects (and the clean
    // runs'), and at least the two racy accesses.
    let checked = s.rsplit("; ").next().unwrap_or("");
    let objects: u32 = checked
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no object count in {s}"));
    assert!(objects >= 2 && checked.contains(" tracked, "), "{r}");
    // The one distinct report, counted, with the reporting processes.
    let line = marker_line(RACY, "write");
    let group = data_race_group_line(&r);
    assert!(
        group.contains(&format!("private_race_write.c:{line} in intruder")),
        "{group}"
    );
    assert!(group.contains("2 reports in 2 processes"), "{group}");
    assert!(group.contains(&racy.display().to_string()), "{group}");
}

#[test]
fn a_clean_tree_keeps_the_runners_status() {
    require_pku!();
    let clean = compile_c("racy_clean");
    let r = run_sh(&[], &format!("{} && exit 7", clean.display()));
    assert_exit_code(&r, 7);
    // A clean run is silent (it tracked objects: no notice either).
    assert_eq!(summary_lines(&r), 0, "{r}");
    assert!(parse_reports(&r.stderr).is_empty(), "{r}");
}

#[test]
fn a_runner_killed_by_a_signal_gives_128_plus_n() {
    require_pku!();
    let clean = compile_c("racy_clean");
    let r = run_sh(
        &[],
        &format!("{} >/dev/null; kill -USR1 $$", clean.display()),
    );
    assert_exit_code(&r, 128 + libc::SIGUSR1);
    // A child killed by a signal after a race: the race decides.
    let racy = compile_c(RACY);
    let r = run_sh(
        &[],
        &format!("{}; sh -c 'kill -TERM $$'; exit 0", racy.display()),
    );
    assert_exit_code(&r, RACE_EXIT);
    assert_racy_site(&r, 1);
}

#[test]
fn posix_spawn_and_fork_exec_children_are_watched() {
    require_pku!();
    let racy = compile_c(RACY);
    let spawner = compile_c("tree_spawn");
    let r = run_cli_args(&spawner, &[], &[], &[racy.to_str().unwrap()]);
    assert_exit_code(&r, RACE_EXIT);
    assert!(r.printed("result=66,66"), "both children reported\n{r}");
    assert_racy_site(&r, 2);
    assert_eq!(summary_lines(&r), 1, "{r}");
    assert!(
        summary_line(&r).contains("in 3 processes (2 reported, 1 distinct report)"),
        "{r}"
    );
}

#[test]
fn make_runs_under_push_run() {
    require_pku!();
    if Command::new("make").arg("--version").output().is_err() {
        record_skip("make is not installed");
        return;
    }
    let racy = compile_c(RACY);
    let clean = compile_c("racy_clean");
    let dir = scratch_dir("ci_make");
    std::fs::write(
        dir.join("Makefile"),
        format!(
            "test: clean racy\nclean:\n\t{}\nracy:\n\t-{}\n",
            clean.display(),
            racy.display()
        ),
    )
    .unwrap();
    let r = run_cli_args(
        Path::new("make"),
        &[],
        &[],
        &["-s", "-C", dir.to_str().unwrap()],
    );
    // make ignored the racy command's status (`-`): push run did not.
    assert_exit_code(&r, RACE_EXIT);
    assert_racy_site(&r, 1);
    assert_eq!(summary_lines(&r), 1, "{r}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Statically linked `static_hello`, or None (no static libc here).
fn static_program() -> Option<PathBuf> {
    let out = target_dir().join("c-tests").join("static_hello");
    std::fs::create_dir_all(&out).ok()?;
    let bin = out.join("static_hello");
    let ok = Command::new("gcc")
        .args(["-static", "-O1", "-o"])
        .arg(&bin)
        .arg(c_source("static_hello"))
        .status()
        .is_ok_and(|s| s.success());
    ok.then_some(bin)
}

#[test]
fn a_static_program_is_named_as_unwatched() {
    require_pku!();
    let Some(stat) = static_program() else {
        record_skip("gcc -static failed (no static libc)");
        return;
    };
    // As push run's own program: one line saying so, its status.
    let r = run_cli_args(&stat, &[], &[], &[]);
    assert_exit_code(&r, 0);
    assert!(r.printed("static hello"), "{r}");
    let lines: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| l.contains("statically linked"))
        .collect();
    assert_eq!(lines.len(), 1, "{r}");
    // Exec'd by a watched shell next to a racy program: named in one line
    // at the end, the tree's report still counts, the static child runs.
    let racy = compile_c(RACY);
    let r = run_sh(&[], &format!("{}; {}", stat.display(), racy.display()));
    assert_exit_code(&r, RACE_EXIT);
    assert!(r.printed("static hello"), "{r}");
    assert_racy_site(&r, 1);
    let unwatched = |r: &RunResult| {
        r.stderr
            .lines()
            .filter(|l| {
                l.starts_with("PUSh: not watched: ")
                    && l.contains(&format!("'{}' is statically linked", stat.display()))
            })
            .count()
    };
    assert_eq!(unwatched(&r), 1, "{r}");
    // Started twice, by posix_spawn and by fork + execv: one line.
    let spawner = compile_c("tree_spawn");
    let r = run_cli_args(&spawner, &[], &[], &[stat.to_str().unwrap()]);
    assert_exit_code(&r, 0);
    assert!(r.printed("result=0,0"), "{r}");
    assert_eq!(unwatched(&r), 1, "{r}");
    // A clean tree: no such line.
    let clean = compile_c("racy_clean");
    let r = run_cli_args(&spawner, &[], &[], &[clean.to_str().unwrap()]);
    assert_exit_code(&r, 0);
    let lines = r
        .stderr
        .lines()
        .filter(|l| l.starts_with("PUSh: not watched"))
        .count();
    assert_eq!(lines, 0, "{r}");
}

#[test]
fn sixteen_children_reporting_at_once_lose_nothing() {
    require_pku!();
    let racy = compile_c(RACY);
    let burst = compile_c("tree_burst");
    let dir = scratch_dir("ci_burst");
    let log = format!("{}/all.%e.json", dir.display());
    let r = run_cli_args(
        &burst,
        &["--log-path", &log, "--report-format", "json"],
        &[],
        &["16", racy.to_str().unwrap()],
    );
    assert_exit_code(&r, RACE_EXIT);
    assert!(r.printed("result=16"), "{r}");
    // One file for every process named private_race_write (`%e`), written
    // by 16 processes at once: 16 whole reports from 16 pids.
    let text = std::fs::read_to_string(dir.join("all.private_race_write.json"))
        .unwrap_or_else(|e| panic!("no shared log: {e}\n{r}"));
    let mut pids = Vec::new();
    for line in text.lines() {
        let v: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("a mangled line ({e}): {line}\n{text}"));
        if v["kind"] == "data race" {
            assert_eq!(
                v["access"]["stack"][0]["line"],
                marker_line(RACY, "write"),
                "{line}"
            );
            pids.push(v["pid"].as_u64().unwrap());
        }
    }
    pids.sort_unstable();
    pids.dedup();
    assert_eq!(pids.len(), 16, "{text}");
    // The run's summary (JSON, on stderr) counts them all once.
    let summary: Value = r
        .stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["summary"].is_object())
        .unwrap_or_else(|| panic!("no JSON summary\n{r}"));
    let s = &summary["summary"];
    assert_eq!(s["reports"], 16, "{r}");
    assert_eq!(s["data_races"], 16, "{r}");
    assert_eq!(s["processes_reported"], 16, "{r}");
    assert_eq!(s["distinct_reports"], 1, "{r}");
    assert_eq!(s["processes"], 17, "{r}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn log_path_takes_pid_and_program_name() {
    require_pku!();
    let racy = compile_c(RACY);
    let dir = scratch_dir("ci_logpath");
    let r = run_cli_args(
        &racy,
        &["--log-path", &format!("{}/%e-%p.log", dir.display())],
        &[],
        &[],
    );
    assert_exit_code(&r, RACE_EXIT);
    let files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let name = &files[0];
    let pid = name
        .strip_prefix("private_race_write-")
        .and_then(|s| s.strip_suffix(".log"))
        .and_then(|s| s.parse::<u32>().ok())
        .unwrap_or_else(|| panic!("log file {name}"));
    let log = std::fs::read_to_string(dir.join(name)).unwrap();
    let reports = parse_reports(&log);
    assert_eq!(reports.len(), 1, "{log}");
    assert_eq!(reports[0].pid, Some(pid), "{log}");
    assert!(
        reports[0].frame0_at("private_race_write.c", marker_line(RACY, "write")),
        "{log}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------------
// Signals
// ---------------------------------------------------------------------------

/// Whether process `pid` still exists (zombies count as gone).
fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat
                .rfind(')')
                .and_then(|i| stat[i + 1..].split_whitespace().next())
                .unwrap_or("X");
            state != "Z" && state != "X"
        }
        Err(_) => false,
    }
}

/// Starts `push run -- sh -c SCRIPT` (the script prints `ready PIDS...`),
/// reads the pids, sends `sig` to push, and returns its status and the pids.
fn signal_push(script: &str, sig: i32) -> (std::process::ExitStatus, Vec<i32>) {
    use std::io::BufRead;
    let mut cmd = Command::new(push_cli_path());
    cmd.args(["run", "--", "sh", "-c", script])
        .env_remove("LD_PRELOAD")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .process_group(0);
    set_push_options(&mut cmd, "");
    use std::os::unix::process::CommandExt;
    let mut child = cmd.spawn().expect("start push run");
    let push_pid = child.id() as i32;
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).expect("read the script's pids");
    let pids: Vec<i32> = line
        .strip_prefix("ready")
        .unwrap_or_else(|| panic!("unexpected output {line:?}"))
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect();
    // SAFETY: a plain kill of the push process this test started.
    unsafe { libc::kill(push_pid, sig) };
    // push ends within the harness's limit, or the group is killed.
    let deadline = std::time::Instant::now() + scaled(DEFAULT_TIMEOUT);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait for push") {
            break s;
        }
        if std::time::Instant::now() > deadline {
            // SAFETY: kills the process group this test started.
            unsafe { libc::kill(-push_pid, libc::SIGKILL) };
            panic!("push run did not end after signal {sig}");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    (status, pids)
}

#[test]
fn sigterm_to_push_run_reaches_the_program() {
    require_pku!();
    use std::os::unix::process::ExitStatusExt;
    // `exec sleep`: the program push run started is the sleep itself.
    let (status, pids) = signal_push("echo ready $$; exec sleep 30", libc::SIGTERM);
    assert_eq!(status.code(), Some(128 + libc::SIGTERM), "{status:?}");
    assert_eq!(status.signal(), None);
    assert!(!alive(pids[0]), "sleep {} survived push run", pids[0]);
}

#[test]
fn the_tree_push_run_started_ends_with_it() {
    require_pku!();
    // A background job and a foreground one: the shell dies of the
    // forwarded SIGTERM, its orphans are ended too.
    let (status, pids) = signal_push(
        "sleep 30 & bg=$!; sleep 31 & echo ready $bg $!; wait",
        libc::SIGTERM,
    );
    assert_eq!(status.code(), Some(128 + libc::SIGTERM), "{status:?}");
    for p in pids {
        assert!(!alive(p), "process {p} survived push run");
    }
}

#[test]
fn sigusr1_is_forwarded_and_push_run_waits() {
    require_pku!();
    // The program handles USR1 and exits 5: push run stays, returns 5.
    let (status, _) = signal_push(
        "trap 'exit 5' USR1; echo ready $$; while :; do sleep 0.05; done",
        libc::SIGUSR1,
    );
    assert_eq!(status.code(), Some(5), "{status:?}");
}

// ---------------------------------------------------------------------------
// Formats
// ---------------------------------------------------------------------------

/// Validates `doc` against the vendored SARIF 2.1.0 schema with Python's
/// `jsonschema` (Debian's python3-jsonschema, installed by scripts/test.sh).
/// Returns false (and records a skip) when it is not installed.
pub fn sarif_valid(doc: &Path) -> bool {
    let schema = repo_root().join("tests/sarif/sarif-schema-2.1.0.json");
    let check = "import json,sys,jsonschema\n\
                 schema=json.load(open(sys.argv[1])); doc=json.load(open(sys.argv[2]))\n\
                 jsonschema.Draft7Validator.check_schema(schema)\n\
                 errs=list(jsonschema.Draft7Validator(schema).iter_errors(doc))\n\
                 [print(e.json_path, e.message) for e in errs]\n\
                 sys.exit(1 if errs else 0)\n";
    // The Python on PATH may not be the system's (pyenv), which is where
    // Debian's package goes: use the first that has jsonschema.
    let python = ["python3", "/usr/bin/python3"].into_iter().find(|p| {
        Command::new(p)
            .args(["-c", "import jsonschema"])
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });
    let Some(python) = python else {
        record_skip("python3-jsonschema is not installed: SARIF not validated");
        return false;
    };
    let out = Command::new(python)
        .args(["-c", check])
        .arg(&schema)
        .arg(doc)
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "{} is not valid SARIF 2.1.0:\n{}{}",
        doc.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    true
}

#[test]
fn sarif_log_of_a_process_tree() {
    require_pku!();
    let racy = compile_c(RACY);
    let dir = scratch_dir("ci_sarif");
    let sarif = dir.join("push.sarif");
    let run_dir = dir.join("run");
    let r = run_sh(
        &[
            "--report-format",
            "sarif",
            "--log-path",
            sarif.to_str().unwrap(),
            "--run-dir",
            run_dir.to_str().unwrap(),
        ],
        &format!("{r}; {r}", r = racy.display()),
    );
    assert_exit_code(&r, RACE_EXIT);
    // The text reports stay on stderr.
    assert_racy_site(&r, 2);
    assert!(
        r.stderr.contains("SARIF log written to") && r.stderr.contains("(1 result)"),
        "{r}"
    );
    assert!(sarif.is_file(), "{r}");
    sarif_valid(&sarif);
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&sarif).unwrap()).unwrap();
    assert_eq!(doc["version"], "2.1.0");
    let results = doc["runs"][0]["results"].as_array().unwrap();
    assert_eq!(
        results.len(),
        1,
        "identical reports are one result\n{doc:#}"
    );
    let res = &results[0];
    assert_eq!(res["ruleId"], "data-race");
    assert_eq!(res["properties"]["count"], 2);
    let loc = &res["locations"][0]["physicalLocation"];
    assert!(
        loc["artifactLocation"]["uri"]
            .as_str()
            .unwrap()
            .ends_with("private_race_write.c"),
        "{res:#}"
    );
    assert_eq!(loc["region"]["startLine"], marker_line(RACY, "write"));
    let related = res["relatedLocations"].as_array().expect("related");
    assert!(
        related
            .iter()
            .any(|l| l["physicalLocation"]["region"]["startLine"]
                == line_containing(RACY, "ALLOC:data")),
        "the allocation is a related location\n{res:#}"
    );
    let fp = res["partialFingerprints"]["pushReport/v1"].clone();
    assert!(fp.is_string());
    // What the run checked: both racy processes' objects, at least their
    // two refused accesses.
    let checked = &doc["runs"][0]["properties"];
    assert!(checked["objectsTracked"].as_u64() >= Some(2), "{checked}");
    assert!(checked["accessesChecked"].as_u64() >= Some(2), "{checked}");

    // `push report` re-renders the kept run: SARIF (same fingerprint),
    // JSON lines tagged with pid and command, text.
    let report = |format: &str| {
        let mut cmd = Command::new(push_cli_path());
        cmd.args(["report", run_dir.to_str().unwrap(), "--format", format]);
        let r = run_with_timeout(cmd, DEFAULT_TIMEOUT).expect_finished();
        assert_exit_code(&r, 0);
        r.stdout
    };
    let again = dir.join("again.sarif");
    std::fs::write(&again, report("sarif")).unwrap();
    sarif_valid(&again);
    let doc2: Value = serde_json::from_str(&std::fs::read_to_string(&again).unwrap()).unwrap();
    assert_eq!(
        doc2["runs"][0]["results"][0]["partialFingerprints"]["pushReport/v1"], fp,
        "stable fingerprints"
    );
    let json = report("json");
    let lines: Vec<Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{json}");
    for v in &lines {
        assert_eq!(v["kind"], "data race");
        assert!(
            v["command"]
                .as_str()
                .unwrap()
                .contains("private_race_write"),
            "{v}"
        );
        assert!(v["pid"].as_u64().is_some());
    }
    let text = report("text");
    let reports = parse_reports(&text);
    assert_eq!(reports.len(), 2, "{text}");
    assert!(reports[0].frame0_at("private_race_write.c", marker_line(RACY, "write")));
    assert!(text.contains("SUMMARY: PUSh: 2 reports"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn github_annotations_follow_the_text() {
    require_pku!();
    let racy = compile_c(RACY);
    let r = run_cli_args(&racy, &["--report-format", "github"], &[], &[]);
    assert_exit_code(&r, RACE_EXIT);
    assert_racy_site(&r, 1);
    let line = marker_line(RACY, "write");
    let ann: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| l.starts_with("::error "))
        .collect();
    assert_eq!(ann.len(), 1, "{r}");
    assert!(
        ann[0].contains("private_race_write.c,line=")
            && ann[0].contains(&format!(",line={line},"))
            && ann[0].contains("title=PUSh%3A data race::write by T1"),
        "{}",
        ann[0]
    );
    assert_eq!(summary_lines(&r), 1, "{r}");
}

#[test]
fn report_rejects_a_missing_directory() {
    let mut cmd = Command::new(push_cli_path());
    cmd.args(["report", "/nonexistent/push-run-dir"]);
    let r = run_with_timeout(cmd, DEFAULT_TIMEOUT).expect_finished();
    assert_exit_code(&r, BAD_OPTIONS_EXIT);
}

// ---------------------------------------------------------------------------
// examples/cmake: a CMake project's ctest suite under push run, end to end
// ---------------------------------------------------------------------------

fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The output lines ctest -V shows for test number `n` (`n: ...`), minus
/// ctest's own bookkeeping.
fn test_output(stdout: &str, n: u32) -> Vec<String> {
    let prefix = format!("{n}: ");
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix(prefix.as_str()))
        .filter(|l| {
            !l.starts_with("Test command:")
                && !l.starts_with("Working Directory:")
                && !l.starts_with("Environment variables:")
                && !l.starts_with("Test timeout")
        })
        .map(str::to_string)
        .collect()
}

#[test]
fn cmake_example_under_push_run_ctest() {
    require_pku!();
    if !have("cmake") || !have("ctest") {
        record_skip("cmake/ctest are not installed (scripts/test.sh installs them)");
        return;
    }
    let src = repo_root().join("examples/cmake");
    let dir = scratch_dir("ci_cmake");
    let build = dir.join("build");
    let mut configure = Command::new("cmake");
    configure
        .arg("-S")
        .arg(&src)
        .arg("-B")
        .arg(&build)
        .arg("-DCMAKE_BUILD_TYPE=Debug");
    let r = run_with_timeout(configure, CARGO_BUILD_TIMEOUT).expect_finished();
    assert_exit_code(&r, 0);
    let mut make = Command::new("cmake");
    make.arg("--build").arg(&build);
    let r = run_with_timeout(make, CARGO_BUILD_TIMEOUT).expect_finished();
    assert_exit_code(&r, 0);

    // Natively every test passes.
    let mut native = Command::new("ctest");
    native
        .arg("-V")
        .current_dir(&build)
        .env_remove("LD_PRELOAD");
    let native = run_with_timeout(native, DEFAULT_TIMEOUT).expect_finished();
    assert_exit_code(&native, 0);

    // The CI job: push run -- ctest, SARIF for code scanning.
    let sarif = dir.join("push.sarif");
    let mut cmd = Command::new(push_cli_path());
    cmd.args(["run", "--report-format", "sarif", "--log-path"])
        .arg(&sarif)
        .args(["--", "ctest", "-V"])
        .current_dir(&build)
        .env_remove("LD_PRELOAD");
    set_push_options(&mut cmd, "");
    let r = run_with_timeout(cmd, DEFAULT_TIMEOUT).expect_finished();
    assert_exit_code(&r, RACE_EXIT);
    // ctest names the racy test as failed (it exited 66), the others passed.
    let status_of = |name: &str| {
        r.stdout
            .lines()
            .find(|l| l.contains(&format!(": {name} ")) && l.contains("Test #"))
            .unwrap_or_else(|| panic!("no ctest line for {name}\n{r}"))
            .to_string()
    };
    assert!(status_of("test_racy").contains("Failed"), "{r}");
    assert!(status_of("test_single").contains("Passed"), "{r}");
    assert!(status_of("test_locked").contains("Passed"), "{r}");
    // push run names the racy test's process, at the racy line.
    let racy_line = {
        let text = std::fs::read_to_string(src.join("src/counters.c")).unwrap();
        text.lines()
            .position(|l| l.contains("the race test_racy finds"))
            .unwrap() as u64
            + 1
    };
    let group = data_race_group_line(&r);
    assert!(
        group.contains(&format!("counters.c:{racy_line} in counter_add_unlocked")),
        "{group}"
    );
    assert!(
        group.contains("/test_racy"),
        "the racy test is named\n{group}"
    );
    assert!(
        summary_line(&r).contains("(1 reported, 1 distinct report)"),
        "{r}"
    );
    // The clean tests' output is what it is natively.
    for n in [1, 2] {
        assert_eq!(
            test_output(&r.stdout, n),
            test_output(&native.stdout, n),
            "test {n}\n{r}"
        );
        assert!(!test_output(&r.stdout, n).is_empty(), "{r}");
    }
    // The SARIF log: valid, one result, at the racy line.
    assert!(sarif.is_file(), "{r}");
    sarif_valid(&sarif);
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&sarif).unwrap()).unwrap();
    let results = doc["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.len(), 1, "{doc:#}");
    let loc = &results[0]["locations"][0]["physicalLocation"];
    assert!(
        loc["artifactLocation"]["uri"]
            .as_str()
            .unwrap()
            .ends_with("counters.c"),
        "{doc:#}"
    );
    assert_eq!(loc["region"]["startLine"], racy_line);
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------------
// Suppressions (ThreadSanitizer's format) and compiled-in defaults
// ---------------------------------------------------------------------------

fn suppressions_file(label: &str, text: &str) -> (PathBuf, String) {
    let dir = scratch_dir(label);
    let file = dir.join("push.supp");
    std::fs::write(&file, text).unwrap();
    let s = file.display().to_string();
    (dir, s)
}

#[test]
fn suppressions_with_wildcards_say_what_they_matched() {
    require_pku!();
    let racy = compile_c(RACY);
    let (dir, supp) = suppressions_file(
        "ci_supp",
        "# TSan format\nrace:^intr*der$\n\nrace:^intrude$\npolicy:*\n",
    );
    for r in [
        run_preload(&racy, &format!("suppressions={supp}:print_suppressions=1")),
        run_cli(
            &racy,
            &["--suppressions", &supp, "--print-suppressions", "1"],
        ),
    ] {
        assert_clean(&r);
        assert!(
            r.stderr.contains(&format!(
                "PUSh: suppression race:^intr*der$ ({supp}:2) matched 1 time\n"
            )),
            "{r}"
        );
        assert!(
            r.stderr.contains(&format!(
                "PUSh: suppression race:^intrude$ ({supp}:4) was never used\n"
            )),
            "{r}"
        );
        assert!(
            r.stderr.contains(&format!(
                "PUSh: suppression policy:* ({supp}:5) was never used\n"
            )),
            "{r}"
        );
    }
    // Without print_suppressions nothing is listed.
    let r = run_cli(&racy, &["--suppressions", &supp]);
    assert_clean(&r);
    assert!(!r.stderr.contains("PUSh: suppression"), "{r}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn malformed_suppression_lines_stop_push_run_before_the_program() {
    let racy = compile_c(RACY);
    for (label, text, needle) in [
        (
            "ci_supp_kind",
            "race:x\nmutex:y\n",
            ":2: unknown suppression kind 'mutex'",
        ),
        ("ci_supp_empty", "race:\n", ":1: empty pattern"),
        ("ci_supp_colon", "just words\n", ":1: expected KIND:PATTERN"),
    ] {
        let (dir, supp) = suppressions_file(label, text);
        let r = run_cli(&racy, &["--suppressions", &supp]);
        assert_exit_code(&r, BAD_OPTIONS_EXIT);
        assert!(!r.printed("started"), "the program must not run\n{r}");
        assert!(r.stderr.contains(needle), "{r}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn a_program_compiles_in_its_defaults() {
    require_pku!();
    let bin = compile_c("default_options");
    let line = marker_line("default_options", "write");
    let supp_unused =
        "PUSh: suppression race:no_such_function_* (push_default_suppressions():2) was never used";
    for r in [run_preload(&bin, ""), run_cli(&bin, &[])] {
        assert_exit_code(&r, 9);
        let reports = racy_reports(&r);
        assert_eq!(reports.len(), 1, "{r}");
        assert!(reports[0].frame0_at("default_options.c", line), "{r}");
        assert!(r.stderr.contains(supp_unused), "{r}");
    }
    // PUSH_OPTIONS and flags win over the program's defaults.
    let r = run_preload(&bin, "exitcode=5:print_suppressions=0");
    assert_exit_code(&r, 5);
    assert!(!r.stderr.contains("PUSh: suppression"), "{r}");
    let r = run_cli(&bin, &["--exitcode", "7"]);
    assert_exit_code(&r, 7);
}

#[test]
fn a_plain_preload_run_collects_into_run_dir() {
    require_pku!();
    let racy = compile_c(RACY);
    let dir = scratch_dir("ci_preload_rundir");
    let run = dir.join("run");
    let r = run_preload(&racy, &format!("run_dir={}", run.display()));
    assert_exit_code(&r, RACE_EXIT);
    assert_racy_site(&r, 1);
    // Without push run, the process prints its own SUMMARY.
    assert_eq!(summary_lines(&r), 1, "{r}");
    let mut cmd = Command::new(push_cli_path());
    cmd.args(["report", run.to_str().unwrap(), "--format", "json"]);
    let rep = run_with_timeout(cmd, DEFAULT_TIMEOUT).expect_finished();
    assert_exit_code(&rep, 0);
    let lines: Vec<Value> = rep
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "{rep}");
    assert_eq!(lines[0]["pid"], r.pid);
    assert_eq!(
        lines[0]["access"]["stack"][0]["line"],
        marker_line(RACY, "write")
    );
    let _ = std::fs::remove_dir_all(&dir);
}
