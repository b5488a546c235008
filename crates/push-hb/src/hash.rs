//! Hasher for the address-keyed sync-object table.
//!
//! Keys are addresses of pthread objects: aligned, so their low bits carry no
//! information, and not chosen by an adversary. SipHash (the std default)
//! would cost more than the rest of a lock operation; a SplitMix64 finalizer
//! spreads every key bit over the whole hash in a few instructions.

use std::hash::Hasher;

/// The SplitMix64 output function: a bijective 64-bit mixer.
#[inline]
pub(crate) fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// `Hasher` for `u64` keys; other input is folded in byte by byte.
#[derive(Clone, Copy, Default)]
pub(crate) struct AddrHasher(u64);

impl Hasher for AddrHasher {
    #[inline]
    fn finish(&self) -> u64 {
        mix64(self.0)
    }

    #[inline]
    fn write_u64(&mut self, n: u64) {
        // One key: the state is the key itself, mixed once in `finish`.
        self.0 = if self.0 == 0 { n } else { mix64(self.0) ^ n };
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn aligned_keys_spread_over_low_bits() {
        // hashbrown picks buckets with the low bits: aligned addresses must
        // still land in every bucket of a small table.
        let mut buckets = HashSet::new();
        for i in 0..1024u64 {
            let mut h = AddrHasher::default();
            h.write_u64(0x7f00_0000_0000 + i * 64);
            buckets.insert(h.finish() & 255);
        }
        assert!(buckets.len() > 240, "{} of 256 buckets used", buckets.len());
    }
}
