//! Which allocations the annotation-free mode leaves alone: those made by
//! system libraries (the C and C++ runtimes, the loader, libgcc). Their
//! objects are synchronized by locks PUSh does not see (stdio's, the
//! loader's, libstdc++'s internal ones), so watching them could only
//! invent races. Their code ranges are read once from `/proc/self/maps`
//! at start-up; a library loaded later counts as the program's.

use core::sync::atomic::{AtomicUsize, Ordering};

const MAX_RANGES: usize = 32;

static RANGES: [[AtomicUsize; 2]; MAX_RANGES] =
    [const { [AtomicUsize::new(0), AtomicUsize::new(0)] }; MAX_RANGES];
static COUNT: AtomicUsize = AtomicUsize::new(0);

/// Libraries whose allocations are not watched, by file-name prefix.
const SYSTEM: &[&str] = &[
    "libc.so",
    "libc-",
    "ld-linux",
    "libstdc++.so",
    "libgcc_s.so",
    "libm.so",
    "libpthread.so",
    "libdl.so",
    "librt.so",
    "libpush.so",
];

/// Whether `name` (a mapped file's base name) is a system library.
pub fn is_system_library(name: &str) -> bool {
    SYSTEM.iter().any(|p| name.starts_with(p))
}

/// Reads the executable mappings of system libraries. Start-up only.
pub fn init() {
    let Ok(maps) = std::fs::read_to_string("/proc/self/maps") else {
        return;
    };
    let mut n = 0;
    for (lo, hi) in system_code_ranges(&maps) {
        if n == MAX_RANGES {
            break;
        }
        RANGES[n][0].store(lo, Ordering::Relaxed);
        RANGES[n][1].store(hi, Ordering::Relaxed);
        n += 1;
    }
    COUNT.store(n, Ordering::Release);
}

/// The executable ranges of system libraries in a `/proc/PID/maps` text.
fn system_code_ranges(maps: &str) -> Vec<(usize, usize)> {
    maps.lines()
        .filter_map(|line| {
            let mut f = line.split_whitespace();
            let range = f.next()?;
            let perms = f.next()?;
            let path = f.nth(3)?;
            if !perms.contains('x') {
                return None;
            }
            let name = path.rsplit('/').next()?;
            if !is_system_library(name) {
                return None;
            }
            let (lo, hi) = range.split_once('-')?;
            Some((
                usize::from_str_radix(lo, 16).ok()?,
                usize::from_str_radix(hi, 16).ok()?,
            ))
        })
        .collect()
}

/// Whether code at `pc` belongs to a system library (0, unknown, counts as
/// one: an allocation whose caller cannot be found is left alone).
#[inline]
pub fn is_system(pc: usize) -> bool {
    if pc == 0 {
        return true;
    }
    let n = COUNT.load(Ordering::Acquire);
    RANGES[..n]
        .iter()
        .any(|r| pc >= r[0].load(Ordering::Relaxed) && pc < r[1].load(Ordering::Relaxed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_code_of_system_libraries_only() {
        let maps = "\
55d000000000-55d000001000 r-xp 00001000 08:01 1 /home/u/app
7f0000000000-7f0000100000 r--p 00000000 08:01 2 /usr/lib/x86_64-linux-gnu/libc.so.6
7f0000100000-7f0000200000 r-xp 00100000 08:01 2 /usr/lib/x86_64-linux-gnu/libc.so.6
7f0000300000-7f0000400000 r-xp 00000000 08:01 3 /usr/lib/x86_64-linux-gnu/libstdc++.so.6.0.30
7f0000500000-7f0000600000 r-xp 00000000 08:01 4 /usr/lib/x86_64-linux-gnu/liblzma.so.5
7f0000700000-7f0000800000 r-xp 00000000 08:01 5 /usr/lib64/ld-linux-x86-64.so.2
7ffc00000000-7ffc00001000 r-xp 00000000 00:00 0 [vdso]
";
        assert_eq!(
            system_code_ranges(maps),
            vec![
                (0x7f0000100000, 0x7f0000200000),
                (0x7f0000300000, 0x7f0000400000),
                (0x7f0000700000, 0x7f0000800000)
            ]
        );
    }
}
