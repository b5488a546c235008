//! From pcs to frames: function, file and line from the debug info
//! (`backtrace`), module and offset from the loader (`dladdr`). Ordinary
//! context only (allocates, takes the loader's locks).

use crate::stack::Stack;

/// A symbolized frame.
pub(super) struct Frame {
    pub(super) pc: usize,
    pub(super) function: Option<String>,
    pub(super) file: Option<String>,
    pub(super) line: Option<u32>,
    pub(super) module: Option<String>,
    pub(super) module_offset: usize,
}

fn symbolize(pc: usize, exact: bool) -> Frame {
    // backtrace::resolve treats its argument as a return address and looks
    // up the byte before it; an exact pc is therefore passed as pc + 1.
    let lookup = if exact { pc } else { pc.saturating_sub(1) };
    let mut f = Frame {
        pc,
        function: None,
        file: None,
        line: None,
        module: None,
        module_offset: 0,
    };
    backtrace::resolve((lookup + 1) as *mut libc::c_void, |sym| {
        if f.function.is_none() {
            // `{:#}`: demangled without the hash of Rust symbols.
            f.function = sym.name().map(|n| format!("{n:#}"));
        }
        if f.file.is_none() {
            f.file = sym.filename().map(|p| p.display().to_string());
            f.line = sym.lineno();
        }
    });
    if let Some(info) = crate::sys::dladdr(lookup) {
        f.module = info.module;
        f.module_offset = pc.wrapping_sub(info.module_base);
        if f.function.is_none() {
            f.function = info.symbol;
        }
    }
    f
}

pub(super) fn symbolize_stack(s: &Stack, first_exact: bool) -> Vec<Frame> {
    s.frames()
        .iter()
        .enumerate()
        .map(|(i, &pc)| symbolize(pc, first_exact && i == 0))
        .collect()
}

pub(super) fn module_name() -> String {
    std::env::current_exe()
        .ok()
        .map(|p| p.display().to_string())
        .unwrap_or_default()
}
