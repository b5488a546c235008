//! The hash every table of the runtime spreads its keys with: a 64-bit
//! finalizer (splitmix64). A leaf: it depends on nothing in the crate.

/// A 64-bit finalizer (splitmix64): spreads owners over domains, lock and
/// stack addresses over tables.
pub fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}
