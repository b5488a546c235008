//! One SARIF 2.1.0 log of a run's reports: rules, results with their
//! locations and stacks, and the fingerprints that deduplicate them.

use super::{alloc_stack, best_frame, group, primary_stack};
use serde_json::{json, Value};
use std::fmt::Write as _;

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
    checked: Option<crate::report::Checked>,
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
                let n = g.processes.len();
                let _ = write!(
                    message,
                    " ({} reports in {n} process{})",
                    g.count,
                    if n == 1 { "" } else { "es" }
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
        if c.unwatched > 0 {
            run["properties"]["objectsNoLongerWatched"] = c.unwatched.into();
        }
        if c.parked > 0 {
            run["properties"]["watchingPaused"] = c.parked.into();
        }
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
