use super::*;

#[test]
fn lines_round_trip() {
    let r = ProcessRecord {
        pid: 42,
        state: "exited".into(),
        backend: "mpk".into(),
        objects: 3,
        faults: 7,
        unwatched: 4,
        parked: 5,
        reports: 1,
        dropped: 2,
        keys: 1,
        exitcode: Some(9),
        print_suppressions: true,
        exe: "/tmp/a b/prog".into(),
    };
    assert_eq!(ProcessRecord::parse(42, &r.line()), Some(r));
    assert_eq!(ProcessRecord::parse(1, "garbage"), None);
}

fn race_line(pid: u32, line: u32) -> String {
    format!(
        "{}\n",
        serde_json::json!({"kind": "data race", "pid": pid, "command": format!("./t {pid}"),
            "access": {"type": "write", "stack": [{"pc": "0x1", "function": "w", "file": "/s/t.c", "line": line}]},
            "object": {"allocation_stack": [{"pc": "0x2", "function": "main", "file": "/s/t.c", "line": 30}]},
            "message": "write by T1"})
    )
}

fn scratch(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("push-run-dir-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn rec(pid: u32, reports: u64, keys: u64, exitcode: Option<i32>) -> String {
    ProcessRecord {
        pid,
        state: "exited".into(),
        backend: "mpk".into(),
        objects: 1,
        faults: 2,
        reports,
        keys,
        exitcode,
        exe: "/t".into(),
        ..ProcessRecord::default()
    }
    .line()
}

#[test]
fn one_process_sums_up_as_before() {
    let d = scratch("one");
    std::fs::write(d.join("10"), rec(10, 1, 2, Some(66))).unwrap();
    std::fs::write(d.join("10.reports"), race_line(10, 14)).unwrap();
    let opts = crate::options::Options::default();
    let end = end_of_run(&d, &opts, "./t", false, 0, 10);
    assert_eq!(
        end.text,
        "SUMMARY: PUSh: 1 report (1 data race, 0 unordered policy changes, 0 annotation errors) \
         [backend mpk, 2 protection keys given to the program]; 1 object tracked, 2 accesses checked\n"
    );
    assert_eq!(end.exit_code, 66);
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn a_tree_sums_up_once_with_counts() {
    let d = scratch("tree");
    std::fs::write(d.join("10"), rec(10, 0, 0, Some(9))).unwrap();
    std::fs::write(d.join("11"), rec(11, 1, 0, Some(66))).unwrap();
    std::fs::write(d.join("12"), rec(12, 2, 0, Some(66))).unwrap();
    std::fs::write(d.join("11.reports"), race_line(11, 14)).unwrap();
    std::fs::write(d.join("12.reports"), race_line(12, 14) + &race_line(12, 15)).unwrap();
    std::fs::write(d.join("options"), "").unwrap();
    let opts = crate::options::Options::default();
    // The program (pid 10) compiled in exitcode=9: it decides.
    let end = end_of_run(&d, &opts, "./t", false, 1, 10);
    assert_eq!(end.exit_code, 9);
    let lines: Vec<&str> = end.text.lines().collect();
    assert_eq!(lines.len(), 3, "{}", end.text);
    assert!(lines[0].starts_with("PUSh: data race at /s/t.c:14 in w (object allocated at /s/t.c:30): 2 reports in 2 processes: pid 11 ./t 11, pid 12 ./t 12"), "{}", lines[0]);
    assert!(
        lines[1].starts_with("PUSh: data race at /s/t.c:15"),
        "{}",
        lines[1]
    );
    assert_eq!(
        lines[2],
        "SUMMARY: PUSh: 3 reports (3 data races, 0 unordered policy changes, 0 annotation errors) \
         [backend mpk] in 3 processes (2 reported, 2 distinct reports), 0 dropped; \
         3 objects tracked, 6 accesses checked"
    );
    // A flag wins over the program's default; nothing reported: the status.
    let opts = crate::options::Options::parse("exitcode=3").unwrap();
    assert_eq!(end_of_run(&d, &opts, "./t", false, 1, 10).exit_code, 3);
    std::fs::remove_file(d.join("11.reports")).unwrap();
    std::fs::remove_file(d.join("12.reports")).unwrap();
    let end = end_of_run(&d, &opts, "./t", false, 1, 10);
    assert_eq!((end.exit_code, end.text.as_str()), (1, ""));
    let _ = std::fs::remove_dir_all(&d);
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
