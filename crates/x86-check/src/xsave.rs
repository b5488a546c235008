//! Where PKRU lives in the XSAVE area the kernel stores in a signal frame.
//!
//! A signal handler runs with the kernel's default PKRU. The interrupted
//! thread's PKRU is restored from the frame's XSAVE area on `sigreturn`, so a
//! handler changes it by writing the PKRU component (standard, non-compacted
//! layout: offset from CPUID leaf 0xD subleaf 9) and setting bit 9 of
//! XSTATE_BV (the 8 bytes at offset 512) so the kernel loads it.
//!
//! # Safety
//! [`read_saved`] and [`write_saved`] take a raw pointer to that area; the
//! caller must pass the `fpregs` pointer of a live signal frame.

use crate::Pkru;

/// The XSAVE feature bit of PKRU.
pub const PKRU_FEATURE: u32 = 9;
const XSTATE_BV_OFFSET: usize = 512;
const SW_BYTES_OFFSET: usize = 464;
const FP_XSTATE_MAGIC1: u32 = 0x4650_5853;

/// Offset and size of PKRU in the standard XSAVE layout, if the CPU has it.
pub fn pkru_component() -> Option<(u32, u32)> {
    if crate::cpuid(0, 0).0 < 0xd {
        return None;
    }
    let supported = crate::cpuid(0xd, 0).0;
    if supported & (1 << PKRU_FEATURE) == 0 {
        return None;
    }
    let (size, offset, _, _) = crate::cpuid(0xd, PKRU_FEATURE);
    (size >= 4 && offset >= 576).then_some((offset, size))
}

/// Checks that an XSAVE area from a signal frame is in the extended format
/// and large enough to hold PKRU at `offset`.
///
/// # Safety
/// `area` must point to at least 512 readable bytes (the legacy FXSAVE region
/// is always present in a signal frame).
pub unsafe fn frame_has_pkru(area: *const u8, offset: u32) -> bool {
    // SAFETY: the software-reserved bytes lie inside the 512-byte legacy region.
    let (magic1, extended_size, xfeatures) = unsafe {
        let sw = area.add(SW_BYTES_OFFSET);
        (
            (sw as *const u32).read_unaligned(),
            (sw.add(4) as *const u32).read_unaligned(),
            (sw.add(8) as *const u64).read_unaligned(),
        )
    };
    magic1 == FP_XSTATE_MAGIC1
        && xfeatures & (1 << PKRU_FEATURE) != 0
        && extended_size as usize >= offset as usize + 4
}

/// The PKRU saved in a signal frame.
///
/// # Safety
/// `area` must be a signal frame's XSAVE area for which [`frame_has_pkru`] holds.
pub unsafe fn read_saved(area: *const u8, offset: u32) -> Pkru {
    // SAFETY: per the caller, the header and the PKRU component are in bounds.
    unsafe {
        let bv = (area.add(XSTATE_BV_OFFSET) as *const u64).read_unaligned();
        if bv & (1 << PKRU_FEATURE) == 0 {
            // Component in its init state: PKRU was 0 (all access).
            return Pkru(0);
        }
        Pkru((area.add(offset as usize) as *const u32).read_unaligned())
    }
}

/// Replaces the PKRU that `sigreturn` will restore.
///
/// # Safety
/// `area` must be a signal frame's XSAVE area for which [`frame_has_pkru`] holds.
pub unsafe fn write_saved(area: *mut u8, offset: u32, value: Pkru) {
    // SAFETY: per the caller, the header and the PKRU component are in bounds and writable.
    unsafe {
        (area.add(offset as usize) as *mut u32).write_unaligned(value.0);
        let bv = area.add(XSTATE_BV_OFFSET) as *mut u64;
        bv.write_unaligned(bv.read_unaligned() | (1 << PKRU_FEATURE));
    }
}
