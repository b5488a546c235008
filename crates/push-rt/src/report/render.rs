//! Rendering of collected reports: the JSON objects every process of a run
//! writes to the run directory (see `run_dir`), grouped across processes
//! and rendered as text, GitHub workflow annotations or one SARIF 2.1.0 log.
//!
//! The reports here are the JSON format of `docs/reports.md` plus two
//! fields the run directory adds: `command` (the process's command line)
//! and `exe`. Nothing here runs in signal context.
#![forbid(unsafe_code)]

use serde_json::{json, Value};
use std::fmt::Write as _;

/// Where a frame points: `file:line` when known, else the function, else
/// the module.
fn frame_site(f: &Value) -> Option<String> {
    match (f["file"].as_str(), f["line"].as_u64()) {
        (Some(file), Some(line)) => Some(format!("{file}:{line}")),
        _ => f["function"]
            .as_str()
            .or_else(|| f["module"].as_str())
            .map(str::to_string),
    }
}

/// The stack of the access (data races, rule 2 policy changes) or of the
/// call (annotation errors, rule 1 policy changes).
pub fn primary_stack(r: &Value) -> &[Value] {
    let s = if r["access"].is_object() {
        &r["access"]["stack"]
    } else {
        &r["call"]["stack"]
    };
    s.as_array().map_or(&[], Vec::as_slice)
}

fn alloc_stack(r: &Value) -> &[Value] {
    r["object"]["allocation_stack"]
        .as_array()
        .map_or(&[], Vec::as_slice)
}

/// The first frame of `stack` with a source file (the user's code, past
/// libc frames), else the first frame.
fn best_frame(stack: &[Value]) -> Option<&Value> {
    stack
        .iter()
        .find(|f| f["file"].is_string() && f["line"].is_u64())
        .or_else(|| stack.first())
}

/// What makes two reports the same across processes: the kind, the access
/// (or call) site and the allocation site.
pub fn dedup_key(r: &Value) -> String {
    let site = |s: &[Value]| best_frame(s).and_then(frame_site).unwrap_or_default();
    format!(
        "{}|{}|{}",
        r["kind"].as_str().unwrap_or(""),
        site(primary_stack(r)),
        site(alloc_stack(r))
    )
}

/// Identical reports of a run, with how often and where they were seen.
pub struct Group {
    pub first: Value,
    pub count: u64,
    /// (pid, command line) of each process that reported it, in order.
    pub processes: Vec<(u64, String)>,
}

/// Groups reports by [`dedup_key`], in order of first appearance.
pub fn group(reports: &[Value]) -> Vec<Group> {
    let mut out: Vec<Group> = Vec::new();
    let mut index: std::collections::HashMap<String, usize> = Default::default();
    for r in reports {
        let key = dedup_key(r);
        let pid = r["pid"].as_u64().unwrap_or(0);
        let cmd = r["command"].as_str().unwrap_or("").to_string();
        match index.get(&key) {
            Some(&i) => {
                let g = &mut out[i];
                g.count += 1;
                if !g.processes.iter().any(|(p, _)| *p == pid) {
                    g.processes.push((pid, cmd));
                }
            }
            None => {
                index.insert(key, out.len());
                out.push(Group {
                    first: r.clone(),
                    count: 1,
                    processes: vec![(pid, cmd)],
                });
            }
        }
    }
    out
}

/// One line naming a group: `data race at racy.c:14 in writer (object
/// allocated at racy.c:30): 3 reports in 2 processes: pid 41 ./a, pid 42 ./b`.
pub fn group_line(g: &Group) -> String {
    let r = &g.first;
    let mut s = format!("PUSh: {}", r["kind"].as_str().unwrap_or("report"));
    if let Some(f) = best_frame(primary_stack(r)) {
        let _ = write!(s, " at {}", frame_site(f).unwrap_or_else(|| "??".into()));
        if let Some(func) = f["function"].as_str() {
            if f["file"].is_string() {
                let _ = write!(s, " in {func}");
            }
        }
    }
    if let Some(site) = best_frame(alloc_stack(r)).and_then(frame_site) {
        let _ = write!(s, " (object allocated at {site})");
    }
    let _ = write!(
        s,
        ": {} report{} in {} process{}:",
        g.count,
        if g.count == 1 { "" } else { "s" },
        g.processes.len(),
        if g.processes.len() == 1 { "" } else { "es" }
    );
    const SHOWN: usize = 4;
    for (i, (pid, cmd)) in g.processes.iter().take(SHOWN).enumerate() {
        let sep = if i == 0 { " " } else { ", " };
        let _ = write!(s, "{sep}pid {pid} {}", shorten(cmd, 80));
    }
    if g.processes.len() > SHOWN {
        let _ = write!(s, ", and {} more", g.processes.len() - SHOWN);
    }
    s.push('\n');
    s
}

fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max - 3).collect();
        t.push_str("...");
        t
    }
}

/// A `::error file=F,line=L::message` GitHub workflow annotation for a
/// report, `None` when no frame of its access has a source line.
pub fn github_line(r: &Value) -> Option<String> {
    let f = primary_stack(r)
        .iter()
        .find(|f| f["file"].is_string() && f["line"].is_u64())?;
    let file = relative_to_cwd(f["file"].as_str()?);
    let line = f["line"].as_u64()?;
    let title = format!("PUSh: {}", r["kind"].as_str().unwrap_or("report"));
    let mut msg = r["message"].as_str().unwrap_or("").to_string();
    if let Some(site) = best_frame(alloc_stack(r)).and_then(frame_site) {
        let _ = write!(msg, "; object allocated at {site}");
    }
    if let Some(pid) = r["pid"].as_u64() {
        let _ = write!(msg, " (pid {pid})");
    }
    Some(format!(
        "::error file={},line={line},title={}::{}\n",
        escape_property(&file),
        escape_property(&title),
        escape_data(&msg)
    ))
}

/// Workflow command escaping of a message.
fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Workflow command escaping of a property value.
fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// `path` relative to the current directory when it lies under it.
fn relative_to_cwd(path: &str) -> String {
    let Ok(cwd) = std::env::current_dir() else {
        return path.to_string();
    };
    std::path::Path::new(path)
        .strip_prefix(&cwd)
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| path.to_string())
}

fn stack_text(out: &mut String, stack: &[Value]) {
    if stack.is_empty() {
        out.push_str("    <no stack>\n");
    }
    for (i, f) in stack.iter().enumerate() {
        let pc = f["pc"].as_str().unwrap_or("0x0");
        let func = f["function"].as_str().unwrap_or("??");
        match (f["file"].as_str(), f["line"].as_u64()) {
            (Some(file), Some(line)) => {
                let _ = writeln!(out, "    #{i} {pc} in {func} {file}:{line}");
            }
            _ => {
                let m = f["module"].as_str().unwrap_or("??");
                let _ = writeln!(out, "    #{i} {pc} in {func} ({m})");
            }
        }
    }
}

fn thread_text(t: &Value) -> String {
    let id = t["id"]
        .as_u64()
        .map_or_else(|| "T?".to_string(), |n| format!("T{n}"));
    match t["name"].as_str() {
        Some(name) => format!("{id} {name:?} (tid {})", t["tid"]),
        None => format!("{id} (tid {})", t["tid"]),
    }
}

/// A report in the text format of `docs/reports.md`, rebuilt from its JSON
/// object (`push report DIR --format text`): the same blocks, with the
/// report's message instead of the policy details.
pub fn text(r: &Value) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "==================\nWARNING: PUSh: {} (pid={})",
        r["kind"].as_str().unwrap_or("report"),
        r["pid"]
    );
    if let Some(cmd) = r["command"].as_str() {
        let _ = writeln!(s, "  Process: {cmd}");
    }
    if r["access"].is_object() {
        let a = &r["access"];
        let _ = writeln!(
            s,
            "  {} at {} (offset {} in object {}) by thread {}:",
            if a["type"] == "write" {
                "Write"
            } else {
                "Read"
            },
            a["address"].as_str().unwrap_or("?"),
            a["offset"],
            r["object"]["address"].as_str().unwrap_or("?"),
            thread_text(&a["thread"])
        );
        stack_text(&mut s, primary_stack(r));
        if r["call"].is_object() {
            let c = &r["call"];
            let _ = writeln!(
                s,
                "\n  Policy changed by {} in thread {}, not ordered before this access:",
                c["function"].as_str().unwrap_or("?"),
                thread_text(&c["thread"])
            );
            stack_text(&mut s, c["stack"].as_array().map_or(&[], Vec::as_slice));
        }
    } else {
        let c = &r["call"];
        let _ = writeln!(
            s,
            "  {}({}) by thread {}: {}",
            c["function"].as_str().unwrap_or("?"),
            c["argument"].as_str().unwrap_or("?"),
            thread_text(&c["thread"]),
            r["message"].as_str().unwrap_or("")
        );
        stack_text(&mut s, primary_stack(r));
        if r["previous_call"].is_object() {
            let p = &r["previous_call"];
            let _ = writeln!(
                s,
                "\n  Previous change by {} in thread {}:",
                p["function"].as_str().unwrap_or("?"),
                thread_text(&p["thread"])
            );
            stack_text(&mut s, p["stack"].as_array().map_or(&[], Vec::as_slice));
        }
    }
    if r["object"].is_object() {
        let o = &r["object"];
        let _ = writeln!(
            s,
            "\n  Object {} of {} bytes, policy {}",
            o["address"].as_str().unwrap_or("?"),
            o["size"],
            o["policy"].as_str().unwrap_or("none")
        );
        let _ = writeln!(
            s,
            "  allocated by thread {} at:",
            thread_text(&o["allocated_by"])
        );
        stack_text(&mut s, alloc_stack(r));
    }
    s.push_str("==================\n");
    s
}

/// The SARIF rule id of a report kind: `data-race`,
/// `unordered-policy-change`, `annotation-error`.
pub fn rule_id(kind: &str) -> String {
    kind.replace(' ', "-")
}

const RULES: &[(&str, &str)] = &[
    (
        "data race",
        "An access to a tracked object that its sharing policy does not allow: \
         a thread touched memory it does not own, or without the lock that protects it.",
    ),
    (
        "unordered policy change",
        "A change of an object's sharing policy that is not ordered (happens-before) \
         after the previous change, or an access not ordered after the change.",
    ),
    (
        "annotation error",
        "A PUSh annotation call the runtime refused (an untracked pointer, a lock not held, ...).",
    ),
];

/// 64-bit FNV-1a, as 16 hex digits: a fingerprint that is the same on every
/// run and machine for the same input.
fn fnv1a(s: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// The fingerprint of a report: its kind, and the function, file name (not
/// its directory: checkouts differ) and line of its access and allocation.
pub fn fingerprint(r: &Value) -> String {
    let site = |s: &[Value]| {
        best_frame(s).map_or(String::new(), |f| {
            let file = f["file"]
                .as_str()
                .map(|p| p.rsplit('/').next().unwrap_or(p).to_string())
                .unwrap_or_default();
            format!(
                "{}@{}:{}",
                f["function"].as_str().unwrap_or(""),
                file,
                f["line"].as_u64().unwrap_or(0)
            )
        })
    };
    fnv1a(&format!(
        "{}|{}|{}",
        r["kind"].as_str().unwrap_or(""),
        site(primary_stack(r)),
        site(alloc_stack(r))
    ))
}

/// A SARIF location for a frame, `None` when it has neither a file nor a
/// function.
fn sarif_location(f: &Value, base: &str, message: Option<String>) -> Option<Value> {
    let mut loc = json!({});
    if let (Some(file), Some(line)) = (f["file"].as_str(), f["line"].as_u64()) {
        let (uri, base_id) = match std::path::Path::new(file).strip_prefix(base) {
            Ok(rel) if !base.is_empty() => (uri_escape(&rel.display().to_string()), true),
            _ => (file_uri(file), false),
        };
        let mut art = json!({ "uri": uri });
        if base_id {
            art["uriBaseId"] = json!("%SRCROOT%");
        }
        loc["physicalLocation"] = json!({
            "artifactLocation": art,
            "region": { "startLine": line.max(1) },
        });
    } else if let Some(m) = f["module"].as_str() {
        loc["physicalLocation"] = json!({ "artifactLocation": { "uri": file_uri(m) } });
    }
    if let Some(func) = f["function"].as_str() {
        loc["logicalLocations"] = json!([{ "fullyQualifiedName": func, "kind": "function" }]);
    }
    if loc.as_object().is_some_and(|o| o.is_empty()) {
        return None;
    }
    if let Some(m) = message {
        loc["message"] = json!({ "text": m });
    }
    Some(loc)
}

fn uri_escape(path: &str) -> String {
    let mut s = String::new();
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            s.push(b as char);
        } else {
            let _ = write!(s, "%{b:02X}");
        }
    }
    s
}

fn file_uri(path: &str) -> String {
    if path.starts_with('/') {
        format!("file://{}", uri_escape(path))
    } else {
        uri_escape(path)
    }
}

/// The SARIF 2.1.0 log of a run: one result per distinct report (see
/// [`group`]), the access as its location, the other thread's site and the
/// allocation as related locations, `ruleId` the report kind, and a
/// `partialFingerprints` entry stable across runs. `srcroot` is the
/// directory paths are made relative to (`%SRCROOT%`); `checked`, when
/// known, becomes the run's `properties` (objects tracked, accesses
/// checked).
pub fn sarif(
    reports: &[Value],
    srcroot: &str,
    version: &str,
    checked: Option<super::Checked>,
) -> Value {
    let base = srcroot.trim_end_matches('/');
    let groups = group(reports);
    let rules: Vec<Value> = RULES
        .iter()
        .map(|(kind, help)| {
            json!({
                "id": rule_id(kind),
                "name": kind,
                "shortDescription": { "text": format!("PUSh: {kind}") },
                "fullDescription": { "text": help },
                "defaultConfiguration": { "level": "error" },
            })
        })
        .collect();
    let results: Vec<Value> = groups
        .iter()
        .map(|g| {
            let r = &g.first;
            let kind = r["kind"].as_str().unwrap_or("data race");
            let stack = primary_stack(r);
            let mut locations = Vec::new();
            if let Some(l) = best_frame(stack).and_then(|f| sarif_location(f, base, None)) {
                locations.push(l);
            }
            let mut related = Vec::new();
            let mut add = |f: Option<&Value>, what: String| {
                if let Some(l) = f.and_then(|f| sarif_location(f, base, Some(what))) {
                    let mut l = l;
                    l["id"] = json!(related.len() + 1);
                    related.push(l);
                }
            };
            for (key, what) in [("call", "policy change"), ("previous_call", "previous change")] {
                if r["access"].is_object() || key == "previous_call" {
                    let c = &r[key];
                    if c.is_object() {
                        let s = c["stack"].as_array().map_or(&[][..], Vec::as_slice);
                        add(
                            best_frame(s),
                            format!(
                                "{what}: {} in thread T{}",
                                c["function"].as_str().unwrap_or("?"),
                                c["thread"]["id"]
                            ),
                        );
                    }
                }
            }
            let previous = &r["previous_access"];
            if previous.is_object() {
                let s = previous["stack"].as_array().map_or(&[][..], Vec::as_slice);
                add(
                    best_frame(s),
                    format!(
                        "previous {} in thread T{}",
                        previous["type"].as_str().unwrap_or("access"),
                        previous["thread"]["id"]
                    ),
                );
            }
            if r["object"].is_object() {
                add(
                    best_frame(alloc_stack(r)),
                    format!(
                        "object of {} bytes allocated by thread T{}",
                        r["object"]["size"], r["object"]["allocated_by"]["id"]
                    ),
                );
            }
            let mut message = r["message"].as_str().unwrap_or(kind).to_string();
            if g.count > 1 {
                let _ = write!(
                    message,
                    " ({} reports in {} processes)",
                    g.count,
                    g.processes.len()
                );
            }
            let mut res = json!({
                "ruleId": rule_id(kind),
                "ruleIndex": RULES.iter().position(|(k, _)| *k == kind).unwrap_or(0),
                "level": "error",
                "message": { "text": message },
                "locations": locations,
                "partialFingerprints": { "pushReport/v1": fingerprint(r) },
                "properties": {
                    "count": g.count,
                    "processes": g.processes.iter().map(|(pid, cmd)| json!({"pid": pid, "command": cmd})).collect::<Vec<_>>(),
                    "report": r,
                },
            });
            if !related.is_empty() {
                res["relatedLocations"] = Value::Array(related);
            }
            res
        })
        .collect();
    let mut run = json!({
        "tool": { "driver": {
            "name": "PUSh",
            "version": version,
            "semanticVersion": version,
            "rules": rules,
        }},
        "results": results,
    });
    if let Some(c) = checked {
        // What the run checked: a log without results is not "no races"
        // when these are zero.
        run["properties"] = json!({"objectsTracked": c.objects, "accessesChecked": c.accesses});
    }
    if !base.is_empty() {
        run["originalUriBaseIds"] =
            json!({ "%SRCROOT%": { "uri": format!("{}/", file_uri(base)) } });
    }
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [run],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn race(pid: u64, line: u64, alloc_line: u64) -> Value {
        json!({"kind": "data race", "pid": pid, "command": format!("./t {pid}"),
            "access": {"type": "write", "address": "0x10", "offset": 0,
                "thread": {"id": 1, "tid": 5},
                "stack": [{"pc": "0x1", "function": "memset", "file": null, "line": null, "module": "/lib/libc.so.6"},
                          {"pc": "0x2", "function": "writer", "file": "/src/a b.c", "line": line, "module": "/t"}]},
            "object": {"address": "0x0", "size": 8, "policy": "private", "allocated_by": {"id": 0, "tid": 4},
                "allocation_stack": [{"pc": "0x3", "function": "main", "file": "/src/a b.c", "line": alloc_line, "module": "/t"}]},
            "message": "write by T1 not allowed by private(T0)"})
    }

    #[test]
    fn identical_reports_of_many_processes_are_one_group() {
        let rs = [
            race(1, 14, 30),
            race(2, 14, 30),
            race(2, 14, 30),
            race(3, 15, 30),
        ];
        let g = group(&rs);
        assert_eq!(g.len(), 2);
        assert_eq!((g[0].count, g[0].processes.len()), (3, 2));
        assert_eq!(fingerprint(&rs[0]), fingerprint(&rs[1]));
        assert_ne!(fingerprint(&rs[0]), fingerprint(&rs[3]));
        let line = group_line(&g[0]);
        assert!(
            line.starts_with("PUSh: data race at /src/a b.c:14 in writer (object allocated at /src/a b.c:30): 3 reports in 2 processes: pid 1 ./t 1, pid 2 ./t 2"),
            "{line}"
        );
    }

    #[test]
    fn sarif_has_one_result_per_distinct_report() {
        let rs = [race(1, 14, 30), race(2, 14, 30)];
        let s = sarif(&rs, "/src", "0.1.0", None);
        let res = &s["runs"][0]["results"];
        assert_eq!(res.as_array().unwrap().len(), 1);
        assert_eq!(res[0]["ruleId"], "data-race");
        let loc = &res[0]["locations"][0]["physicalLocation"];
        assert_eq!(loc["artifactLocation"]["uri"], "a%20b.c");
        assert_eq!(loc["region"]["startLine"], 14);
        assert_eq!(
            res[0]["relatedLocations"][0]["physicalLocation"]["region"]["startLine"],
            30
        );
    }

    #[test]
    fn github_lines_escape() {
        let l = github_line(&race(1, 14, 30)).unwrap();
        assert!(
            l.starts_with("::error file=/src/a b.c,line=14,title=PUSh%3A data race::write by T1"),
            "{l}"
        );
    }
}
