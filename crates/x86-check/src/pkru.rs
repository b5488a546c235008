//! The PKRU register: two bits per key, access-disable (AD, bit 2k) and
//! write-disable (WD, bit 2k+1).
//!
//! # Safety
//! RDPKRU and WRPKRU fault with #UD unless the OS enabled protection keys, so
//! [`read`] and [`write`] must only be called after [`crate::os_enabled_pku`]
//! returned true. WRPKRU changes only the calling thread's view of memory.

use core::arch::asm;

/// Number of protection keys the architecture defines.
pub const KEYS: u32 = 16;

/// A PKRU value.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Pkru(pub u32);

impl core::fmt::Debug for Pkru {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Pkru({:#010x})", self.0)
    }
}

/// Access a thread may have to pages of one key.
#[derive(Clone, Copy, PartialEq, Eq, Debug, PartialOrd, Ord)]
pub enum Access {
    None,
    Read,
    ReadWrite,
}

impl Pkru {
    /// Every key denied except key 0 (untracked memory), which is read-write.
    pub const ONLY_KEY0: Pkru = Pkru(!0b11);

    pub fn access(self, key: u32) -> Access {
        match (self.0 >> (2 * key)) & 0b11 {
            0 => Access::ReadWrite,
            0b10 => Access::Read,
            _ => Access::None,
        }
    }

    /// Sets the access for `key` exactly.
    #[must_use]
    pub fn with(self, key: u32, access: Access) -> Pkru {
        let bits = match access {
            Access::ReadWrite => 0,
            Access::Read => 0b10,
            Access::None => 0b11,
        };
        Pkru((self.0 & !(0b11 << (2 * key))) | (bits << (2 * key)))
    }

    /// Raises the access for `key` to at least `access`.
    #[must_use]
    pub fn grant(self, key: u32, access: Access) -> Pkru {
        if self.access(key) >= access {
            self
        } else {
            self.with(key, access)
        }
    }

    pub fn allows(self, key: u32, write: bool) -> bool {
        let a = self.access(key);
        if write {
            a == Access::ReadWrite
        } else {
            a != Access::None
        }
    }
}

/// Reads the calling thread's PKRU (≈1 ns).
///
/// # Safety
/// Protection keys must be enabled by the OS (see the module doc).
#[inline(always)]
pub unsafe fn read() -> Pkru {
    let eax: u32;
    // SAFETY: RDPKRU with ECX=0 reads PKRU into EAX and zeroes EDX; the caller
    // guarantees OSPKE, so it does not raise #UD.
    unsafe {
        asm!("rdpkru", in("ecx") 0u32, out("eax") eax, out("edx") _, options(nomem, nostack, preserves_flags));
    }
    Pkru(eax)
}

/// Writes the calling thread's PKRU (≈15 ns).
///
/// # Safety
/// Protection keys must be enabled by the OS, and the new value must not deny
/// the caller access to memory it is about to use (its stack, key 0).
#[inline(always)]
pub unsafe fn write(value: Pkru) {
    // SAFETY: WRPKRU with ECX=EDX=0 loads EAX into PKRU; the caller guarantees
    // OSPKE and that the value keeps its own memory accessible.
    unsafe {
        asm!("wrpkru", in("eax") value.0, in("ecx") 0u32, in("edx") 0u32, options(nostack, preserves_flags));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits() {
        let p = Pkru::ONLY_KEY0;
        assert_eq!(p.access(0), Access::ReadWrite);
        for k in 1..16 {
            assert_eq!(p.access(k), Access::None);
        }
        let q = p.with(3, Access::Read).with(5, Access::ReadWrite);
        assert_eq!(q.access(3), Access::Read);
        assert!(q.allows(3, false) && !q.allows(3, true));
        assert!(q.allows(5, true));
        assert_eq!(q.grant(3, Access::None), q);
        assert_eq!(q.grant(3, Access::ReadWrite).access(3), Access::ReadWrite);
        assert_eq!(q.with(3, Access::None).with(5, Access::None), p);
    }

    #[test]
    fn read_write_roundtrip() {
        if !crate::os_enabled_pku() || crate::simulated_absent() {
            eprintln!("skipping: no OSPKE");
            return;
        }
        // SAFETY: OSPKE checked above; we restore the original value and never deny key 0.
        unsafe {
            let orig = read();
            let v = orig.with(15, Access::Read);
            write(v);
            assert_eq!(read(), v);
            write(orig);
        }
    }
}
