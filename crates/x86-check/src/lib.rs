//! Hardware and kernel support for Memory Protection Keys (MPK/PKU).
//!
//! PUSh needs three things from the platform: the CPU must implement PKU
//! (CPUID.7.0:ECX bit 3), the kernel must have enabled it (OSPKE,
//! CPUID.7.0:ECX bit 4), and `pkey_alloc(2)` must hand out keys. This crate
//! probes for them ([`probe`]), wraps the three protection-key system calls
//! ([`pkey`]), reads and writes the PKRU register ([`pkru`]), and locates PKRU
//! inside the XSAVE area that the kernel saves on a signal frame ([`xsave`]).
//!
//! Everything here is allocation-free and async-signal-safe except [`probe`]
//! and [`Probe::remedies`], which run once at start-up or in `push doctor`.
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]

pub mod pkey;
pub mod pkru;
pub mod xsave;

pub use pkru::Pkru;

/// CPUID leaf/subleaf query.
pub fn cpuid(leaf: u32, subleaf: u32) -> (u32, u32, u32, u32) {
    let r = core::arch::x86_64::__cpuid_count(leaf, subleaf);
    (r.eax, r.ebx, r.ecx, r.edx)
}

fn max_leaf() -> u32 {
    cpuid(0, 0).0
}

/// Set `PUSH_SIMULATE_NO_PKU=1` to make PUSh behave as on a CPU without
/// protection keys (for testing the fallback paths on any machine).
pub fn simulated_absent() -> bool {
    std::env::var_os("PUSH_SIMULATE_NO_PKU").is_some_and(|v| v == "1")
}

/// Whether the CPU implements protection keys for user pages.
pub fn cpu_has_pku() -> bool {
    !simulated_absent() && max_leaf() >= 7 && cpuid(7, 0).2 & (1 << 3) != 0
}

/// Whether the OS has enabled protection keys (CR4.PKE), making RDPKRU/WRPKRU usable.
pub fn os_enabled_pku() -> bool {
    !simulated_absent() && max_leaf() >= 7 && cpuid(7, 0).2 & (1 << 4) != 0
}

/// What the platform offers PUSh, gathered by [`probe`].
#[derive(Debug, Clone)]
pub struct Probe {
    pub cpu_pku: bool,
    pub os_pke: bool,
    /// Keys `pkey_alloc` handed out in a trial (all freed again), or the errno it failed with.
    pub allocatable_keys: Result<u32, i32>,
    /// Offset and size of the PKRU component in the standard XSAVE layout.
    pub pkru_xsave: Option<(u32, u32)>,
    pub kernel: String,
    pub max_map_count: Option<u64>,
    pub cpu_model: String,
}

impl Probe {
    /// PUSh can enforce policies on this machine.
    pub fn usable(&self) -> bool {
        self.cpu_pku
            && self.os_pke
            && matches!(self.allocatable_keys, Ok(n) if n >= 5)
            && self.pkru_xsave.is_some()
    }

    /// One line per problem found, each with what to do about it.
    pub fn remedies(&self) -> Vec<String> {
        let mut out = Vec::new();
        if !self.cpu_pku {
            out.push(
                "the CPU has no protection keys (PKU): PUSh needs Intel Skylake-SP or later, or AMD Zen 3 or later; \
                 on a virtual machine, expose the 'pku' CPU flag to the guest"
                    .to_string(),
            );
            if simulated_absent() {
                out.push("(simulated: PUSH_SIMULATE_NO_PKU=1 is set)".to_string());
            }
        } else if !self.os_pke {
            out.push(
                "the kernel has not enabled protection keys (no 'ospke' flag): use Linux 4.9 or later built with \
                 CONFIG_X86_INTEL_MEMORY_PROTECTION_KEYS=y and do not boot with 'nopku'"
                    .to_string(),
            );
        }
        match self.allocatable_keys {
            Err(e) if self.cpu_pku && self.os_pke => out.push(format!(
                "pkey_alloc failed (errno {e}): the kernel refuses protection keys; check seccomp filters or container policies"
            )),
            Ok(n) if n < 5 => out.push(format!(
                "only {n} protection keys are free (PUSh needs 5): another library in the process holds the rest"
            )),
            _ => {}
        }
        if self.cpu_pku && self.os_pke && self.pkru_xsave.is_none() {
            out.push("the CPU does not report PKRU in its XSAVE layout (CPUID 0xD.9): PUSh cannot fix PKRU in signal frames".into());
        }
        if let Some(n) = self.max_map_count {
            if n < 65530 {
                out.push(format!(
                    "vm.max_map_count is {n}: raise it with 'sysctl -w vm.max_map_count=262144' to track more objects"
                ));
            }
        }
        out
    }
}

/// Checks CPU, kernel and key availability. Allocates (strings); not for signal handlers.
pub fn probe() -> Probe {
    let cpu_pku = cpu_has_pku();
    let os_pke = os_enabled_pku();
    let allocatable_keys = if cpu_pku && os_pke {
        pkey::count_allocatable()
    } else {
        Err(libc::ENOSYS)
    };
    let pkru_xsave = if cpu_pku {
        xsave::pkru_component()
    } else {
        None
    };
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into());
    let max_map_count = std::fs::read_to_string("/proc/sys/vm/max_map_count")
        .ok()
        .and_then(|s| s.trim().parse().ok());
    let cpu_model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    Probe {
        cpu_pku,
        os_pke,
        allocatable_keys,
        pkru_xsave,
        kernel,
        max_map_count,
        cpu_model,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_is_consistent() {
        let p = probe();
        if p.usable() {
            assert!(p.remedies().is_empty() || p.max_map_count.unwrap_or(0) < 65530);
        } else {
            assert!(!p.remedies().is_empty());
        }
    }
}
