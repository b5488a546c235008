//! The text format of a report (docs/reports.md): the header, the access
//! or call with its stack, the previous change, the object and where it
//! was allocated.

use super::symbolize::{module_name, Frame, Symbolized};
use super::{Kind, RawReport};
use crate::registry::Policy;
use crate::sys;
use core::sync::atomic::Ordering;
use std::fmt::Write as _;

/// `T1 "name" (tid 4243)`: the reporting thread as the text format shows it.
pub(super) fn thread_text(r: &RawReport) -> String {
    match r.thread_name() {
        Some(name) => format!("{} {name:?} (tid {})", tname(r.thread), r.tid),
        None => format!("{} (tid {})", tname(r.thread), r.tid),
    }
}

pub(super) fn tid_of(id: u32) -> i32 {
    crate::threads::record(id)
        .map(|r| r.tid.load(Ordering::Relaxed))
        .unwrap_or(0)
}

/// How a report names thread record `id`: `T<n>`, n in creation order.
pub(super) fn tname(id: u32) -> String {
    crate::threads::display_name(id)
}

pub(super) fn policy_text(r: &RawReport) -> String {
    match Policy::decode(r.policy) {
        Some(Policy::Private(t)) => format!("private({})", tname(t)),
        Some(Policy::ProtectedBy(l)) => {
            let holders = &r.holders[..(r.nholders as usize).min(4)];
            if holders.is_empty() {
                format!("protected_by(lock {l:#x}, not held)")
            } else {
                let names: Vec<String> = holders.iter().map(|&h| tname(h)).collect();
                format!("protected_by(lock {l:#x}, held by {})", names.join(", "))
            }
        }
        Some(p) => p.name().to_string(),
        None => "none".into(),
    }
}

fn frame_text(out: &mut String, i: usize, f: &Frame) {
    let func = f.function.as_deref().unwrap_or("??");
    match (&f.file, f.line) {
        (Some(file), Some(line)) => {
            let _ = writeln!(out, "    #{i} {:#x} in {func} {file}:{line}", f.pc);
        }
        _ => {
            let m = f.module.clone().unwrap_or_else(module_name);
            let _ = writeln!(
                out,
                "    #{i} {:#x} in {func} ({m}+{:#x})",
                f.pc, f.module_offset
            );
        }
    }
}

fn stack_text(out: &mut String, frames: &[Frame]) {
    if frames.is_empty() {
        out.push_str("    <no stack>\n");
    }
    for (i, f) in frames.iter().enumerate() {
        frame_text(out, i, f);
    }
}

/// A report in the text format (docs/reports.md).
pub(super) fn text(r: &RawReport, sy: &Symbolized) -> String {
    let (frames, alloc, other) = (&sy.frames[..], sy.alloc.as_deref(), sy.other.as_deref());
    let mut s = String::new();
    let _ = writeln!(
        s,
        "==================\nWARNING: PUSh: {} (pid={})",
        r.kind.name(),
        sys::getpid()
    );
    match r.kind {
        Kind::UnorderedChange => {
            let _ = writeln!(
                s,
                "  {}({:#x}) by thread {}: not ordered after the previous policy change",
                r.api.name(),
                r.addr,
                thread_text(r)
            );
            stack_text(&mut s, frames);
            let _ = writeln!(
                s,
                "\n  Previous change by {} in thread {} (tid {}):",
                r.other_api.name(),
                tname(r.other_thread),
                tid_of(r.other_thread)
            );
            stack_text(&mut s, other.unwrap_or(&[]));
        }
        Kind::Annotation => {
            let reason = r.reason.text();
            let _ = writeln!(
                s,
                "  {}({:#x}) by thread {}: {} ({})",
                r.api.name(),
                r.addr,
                thread_text(r),
                reason,
                errno_name(r.errno)
            );
            stack_text(&mut s, frames);
        }
        _ => {
            let _ = writeln!(
                s,
                "  {} at {:#x} (offset {} in object {:#x}) by thread {}:",
                if r.is_write != 0 { "Write" } else { "Read" },
                r.addr,
                r.addr.wrapping_sub(r.obj_base),
                r.obj_base,
                thread_text(r)
            );
            stack_text(&mut s, frames);
            if r.previous_access != 0 {
                let _ = writeln!(
                    s,
                    "\n  Previous {} at {:#x} by thread {} (tid {}):",
                    if r.previous_access == 2 {
                        "write"
                    } else {
                        "read"
                    },
                    r.previous_addr,
                    tname(r.other_thread),
                    tid_of(r.other_thread)
                );
                stack_text(&mut s, other.unwrap_or(&[]));
            } else if let Some(o) = other {
                let _ = writeln!(
                    s,
                    "\n  Policy changed by {} in thread {} (tid {}), not ordered before this access:",
                    r.other_api.name(),
                    tname(r.other_thread),
                    tid_of(r.other_thread)
                );
                stack_text(&mut s, o);
            }
        }
    }
    if r.has_obj != 0 {
        let global = sy
            .global
            .as_ref()
            .map(|name| format!(" (global '{name}')"))
            .unwrap_or_default();
        let _ = writeln!(
            s,
            "\n  Object {:#x} of {} bytes{global}, policy {}{}",
            r.obj_base,
            r.obj_size,
            policy_text(r),
            if r.policy & crate::registry::WATCHED != 0 {
                ", watched by --auto"
            } else {
                ""
            }
        );
        lock_sites_text(&mut s, r, sy);
        if let Some(change) = &sy.change {
            let _ = writeln!(
                s,
                "  policy set by {} in thread {} (tid {}) at:",
                r.change_api.name(),
                tname(r.change_thread),
                tid_of(r.change_thread)
            );
            stack_text(&mut s, change);
        }
        let _ = writeln!(
            s,
            "  {} by thread {} (tid {}) at:",
            if sy.global.is_some() {
                "registered"
            } else {
                "allocated"
            },
            tname(r.alloc_thread),
            tid_of(r.alloc_thread)
        );
        stack_text(&mut s, alloc.unwrap_or(&[]));
    }
    s.push_str("==================\n");
    s
}

/// For an object protected by a lock: where each holder acquired it, or
/// where its last holder had (the other side of a lock violation).
fn lock_sites_text(s: &mut String, r: &RawReport, sy: &Symbolized) {
    let Some(Policy::ProtectedBy(lock)) = Policy::decode(r.policy) else {
        return;
    };
    for (&h, site) in r.holders.iter().zip(&sy.holder_sites) {
        if let Some(f) = site {
            let _ = writeln!(
                s,
                "  lock {lock:#x} acquired by thread {} (tid {}) at:",
                tname(h),
                tid_of(h)
            );
            frame_text(s, 0, f);
        }
    }
    if let Some(f) = &sy.last_holder_site {
        let h = r.last_holder - 1;
        let _ = writeln!(
            s,
            "  lock {lock:#x} last held by thread {} (tid {}), acquired at:",
            tname(h),
            tid_of(h)
        );
        frame_text(s, 0, f);
    }
}

pub(super) fn errno_name(e: i32) -> &'static str {
    match e {
        libc::EINVAL => "EINVAL",
        libc::EPERM => "EPERM",
        libc::ENOMEM => "ENOMEM",
        libc::ESRCH => "ESRCH",
        0 => "0",
        _ => "error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(name: &[u8]) -> RawReport {
        let mut r = RawReport {
            thread: 3,
            tid: 4243,
            ..RawReport::default()
        };
        r.thread_name[..name.len()].copy_from_slice(name);
        r
    }

    #[test]
    fn thread_text_quotes_and_escapes_the_name() {
        assert_eq!(thread_text(&named(b"")), "T3 (tid 4243)");
        assert_eq!(
            thread_text(&named(b"racy_counter")),
            "T3 \"racy_counter\" (tid 4243)"
        );
        assert_eq!(
            thread_text(&named(b"a \"b\"")),
            r#"T3 "a \"b\"" (tid 4243)"#
        );
    }
}
