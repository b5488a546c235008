//! From pcs to frames: function, file and line from the debug info
//! (`backtrace`), module and offset from the loader (`dladdr`). Ordinary
//! context only (allocates, takes the loader's locks).

use super::{Api, RawReport};
use crate::stack::{self, Stack};

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

/// Everything of a report that needs symbols, resolved once for the text
/// and JSON forms.
pub(super) struct Symbolized {
    /// The access or the call.
    pub frames: Vec<Frame>,
    /// Where the object was allocated (when there is an object).
    pub alloc: Option<Vec<Frame>>,
    /// The earlier policy change of an unordered policy change.
    pub other: Option<Vec<Frame>>,
    /// The object's last policy change, when it is not its creation and
    /// not already `other`.
    pub change: Option<Vec<Frame>>,
    /// Where each current holder of the protecting lock acquired it.
    pub holder_sites: Vec<Option<Frame>>,
    /// Where the lock's last holder had acquired it.
    pub last_holder_site: Option<Frame>,
    /// A tracked global's name (its symbol), when it has one.
    pub global: Option<String>,
}

impl Symbolized {
    /// `frames`: the report's own stack, already symbolized (for
    /// suppressions).
    pub(super) fn of(r: &RawReport, frames: Vec<Frame>) -> Symbolized {
        let has_obj = r.has_obj != 0;
        let site = |pc: usize| (pc != 0).then(|| symbolize(pc, false));
        Symbolized {
            frames,
            alloc: has_obj.then(|| symbolize_stack(&stack::get(r.alloc_stack), false)),
            // An observed access's stack starts at its exact instruction.
            other: (r.has_other != 0)
                .then(|| symbolize_stack(&stack::get(r.other_stack), r.previous_access != 0)),
            change: (has_obj && r.has_other == 0 && r.change_api != Api::Allocation)
                .then(|| symbolize_stack(&stack::get(r.change_stack), false)),
            holder_sites: r.holder_sites[..(r.nholders as usize).min(4)]
                .iter()
                .map(|&pc| site(pc))
                .collect(),
            last_holder_site: (r.last_holder != 0)
                .then(|| site(r.last_holder_site))
                .flatten(),
            global: None,
        }
        .with_global_name(r)
    }

    /// A tracked global is named by `PUSH_GLOBAL`'s constructor that
    /// registered it (`push_global_init_<name>`), else by an exported
    /// symbol at its address.
    fn with_global_name(mut self, r: &RawReport) -> Symbolized {
        if r.has_obj == 0 || crate::registry::in_arena(r.obj_base) {
            return self;
        }
        let from_constructor = self
            .alloc
            .as_ref()
            .and_then(|a| a.first())
            .and_then(|f| f.function.as_deref())
            .and_then(|f| f.strip_prefix("push_global_init_"))
            .map(str::to_string);
        self.global = from_constructor.or_else(|| data_symbol(r.obj_base));
        self
    }
}

/// The name of the exported data symbol that starts at `addr`.
fn data_symbol(addr: usize) -> Option<String> {
    crate::sys::dladdr(addr)
        .filter(|info| info.symbol_addr == addr)
        .and_then(|info| info.symbol)
}
