//! The JSON form of a report (docs/reports.md): also what the run
//! directory collects and what SARIF and GitHub annotations are made from.

use super::symbolize::{Frame, Symbolized};
use super::text::{errno_name, policy_text, tid_of, tname};
use super::{Kind, RawReport};
use crate::registry::Policy;
use crate::sys;

fn frame_json(f: &Frame) -> serde_json::Value {
    serde_json::json!({
        "pc": format!("{:#x}", f.pc),
        "function": f.function,
        "file": f.file,
        "line": f.line,
        "module": f.module,
    })
}

fn frames_json(frames: &[Frame]) -> serde_json::Value {
    serde_json::Value::Array(frames.iter().map(frame_json).collect())
}

/// A thread in JSON: its number (the n of `T<n>`, null when the record was
/// recycled since) and its OS thread id.
fn thread_json(id: u32, tid: i32) -> serde_json::Value {
    serde_json::json!({"id": crate::threads::display_number(id), "tid": tid})
}

/// A report as one JSON object (docs/reports.md).
pub(super) fn json_value(r: &RawReport, sy: &Symbolized) -> serde_json::Value {
    let (frames, alloc, other) = (&sy.frames[..], sy.alloc.as_deref(), sy.other.as_deref());
    use serde_json::{json, Value};
    let mut v = json!({"kind": r.kind.name(), "pid": sys::getpid(), "period": r.period});
    let mut thread = thread_json(r.thread, r.tid);
    if let Some(name) = r.thread_name() {
        thread["name"] = Value::String(name);
    }
    let message;
    if r.kind == Kind::UnorderedChange {
        let api = r.api.name();
        let prev = r.other_api.name();
        message = format!(
            "{api} by {} is not ordered after {prev} by {}",
            tname(r.thread),
            tname(r.other_thread)
        );
        v["call"] = json!({"function": api, "argument": format!("{:#x}", r.addr),
            "thread": thread, "stack": frames_json(frames)});
        v["previous_call"] = json!({"function": prev,
            "thread": thread_json(r.other_thread, tid_of(r.other_thread)),
            "stack": frames_json(other.unwrap_or(&[]))});
    } else if r.kind == Kind::Annotation {
        let reason = r.reason.text();
        let api = r.api.name();
        message = format!("{api}({:#x}) by {}: {reason}", r.addr, tname(r.thread));
        v["call"] = json!({"function": api, "argument": format!("{:#x}", r.addr),
            "errno": errno_name(r.errno), "thread": thread, "stack": frames_json(frames)});
    } else {
        let access = if r.is_write != 0 { "write" } else { "read" };
        message = if r.previous_access != 0 {
            let previous = if r.previous_access == 2 {
                "write"
            } else {
                "read"
            };
            format!(
                "{access} by {} races with an earlier {previous} by {} (not ordered by happens-before)",
                tname(r.thread),
                tname(r.other_thread)
            )
        } else {
            format!(
                "{access} by {} not allowed by {}",
                tname(r.thread),
                policy_text(r)
            )
        };
        v["access"] = json!({"type": access, "address": format!("{:#x}", r.addr),
            "offset": r.addr.wrapping_sub(r.obj_base), "thread": thread, "stack": frames_json(frames)});
        if r.previous_access != 0 {
            v["previous_access"] = json!({
                "type": if r.previous_access == 2 { "write" } else { "read" },
                "write": r.previous_access == 2,
                "address": format!("{:#x}", r.previous_addr),
                "thread": thread_json(r.other_thread, tid_of(r.other_thread)),
                "stack": frames_json(other.unwrap_or(&[]))});
        } else if let Some(o) = other {
            v["call"] = json!({"function": r.other_api.name(),
                "thread": thread_json(r.other_thread, tid_of(r.other_thread)), "stack": frames_json(o)});
        }
    }
    if r.has_obj != 0 {
        let policy = Policy::decode(r.policy);
        let owner = match policy {
            Some(Policy::Private(t)) => thread_json(t, tid_of(t)),
            _ => Value::Null,
        };
        let lock = match policy {
            Some(Policy::ProtectedBy(l)) => Value::String(format!("{l:#x}")),
            _ => Value::Null,
        };
        v["object"] = json!({
            "address": format!("{:#x}", r.obj_base),
            "size": r.obj_size,
            "policy": policy.map(|p| p.name()).unwrap_or("none"),
            "owner": owner,
            "lock": lock,
            "lock_holders": r.holders[..(r.nholders as usize).min(4)]
                .iter()
                .map(|&h| crate::threads::display_number(h))
                .collect::<Vec<_>>(),
            "lock_holders_acquired_at": sy.holder_sites.iter()
                .map(|f| f.as_ref().map_or(Value::Null, frame_json))
                .collect::<Vec<_>>(),
            "last_lock_holder": match (r.last_holder, &sy.last_holder_site) {
                (0, _) | (_, None) => Value::Null,
                (h, Some(f)) => json!({"thread": thread_json(h - 1, tid_of(h - 1)),
                    "acquired_at": frame_json(f)}),
            },
            "policy_set_by": match &sy.change {
                Some(c) => json!({"function": r.change_api.name(),
                    "thread": thread_json(r.change_thread, tid_of(r.change_thread)),
                    "stack": frames_json(c)}),
                None => Value::Null,
            },
            "global": sy.global,
            "watched": r.policy & crate::registry::WATCHED != 0,
            "allocated_by": thread_json(r.alloc_thread, tid_of(r.alloc_thread)),
            "allocation_stack": frames_json(alloc.unwrap_or(&[])),
        });
    }
    v["message"] = Value::String(message);
    v
}
