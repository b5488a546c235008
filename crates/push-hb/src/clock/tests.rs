use super::*;
use crate::test_rng::Rng;
use std::collections::hash_map::DefaultHasher;

fn t(i: u32) -> ThreadIdx {
    ThreadIdx::from_u32(i)
}

// ---- Plain reference definitions, written from the math only. ----

fn ref_get(v: &[Timestamp], i: usize) -> Timestamp {
    v.get(i).copied().unwrap_or(0)
}

fn ref_le(a: &[Timestamp], b: &[Timestamp]) -> bool {
    (0..a.len().max(b.len())).all(|i| ref_get(a, i) <= ref_get(b, i))
}

fn ref_eq(a: &[Timestamp], b: &[Timestamp]) -> bool {
    ref_le(a, b) && ref_le(b, a)
}

fn ref_cmp(a: &[Timestamp], b: &[Timestamp]) -> Option<Ordering> {
    match (ref_le(a, b), ref_le(b, a)) {
        (true, true) => Some(Ordering::Equal),
        (true, false) => Some(Ordering::Less),
        (false, true) => Some(Ordering::Greater),
        (false, false) => None,
    }
}

fn ref_join(a: &[Timestamp], b: &[Timestamp]) -> Vec<Timestamp> {
    (0..a.len().max(b.len()))
        .map(|i| ref_get(a, i).max(ref_get(b, i)))
        .collect()
}

/// A clock equal to `v`, built on the heap even when it would fit inline.
fn spilled(v: &[Timestamp]) -> VClock {
    let big = INLINE_LEN + 3;
    let mut c = VClock::new();
    c.set_at(t(big as u32), 1);
    for (i, &x) in v.iter().enumerate() {
        c.set_at(t(i as u32), x);
    }
    c.set_at(t(big as u32), ref_get(v, big));
    assert!(!c.is_inline());
    assert_eq!(c, VClock::from_slice(v));
    c
}

fn hash_of(c: &VClock) -> u64 {
    let mut h = DefaultHasher::new();
    c.hash(&mut h);
    h.finish()
}

/// Miri-style: checks `partial_cmp` and every operator fast path of
/// `l` against `r` in both directions, against the expected order.
fn assert_order(l: &VClock, r: &VClock, o: Option<Ordering>) {
    let cmp = l.partial_cmp(r);
    assert_eq!(cmp, o, "partial_cmp\n l: {l:?}\n r: {r:?}");
    let alt = r.partial_cmp(l);
    assert_eq!(
        alt,
        o.map(Ordering::reverse),
        "alt partial_cmp\n l: {l:?}\n r: {r:?}"
    );

    let lt = matches!(cmp, Some(Ordering::Less));
    let le = matches!(cmp, Some(Ordering::Less | Ordering::Equal));
    let gt = matches!(cmp, Some(Ordering::Greater));
    let ge = matches!(cmp, Some(Ordering::Greater | Ordering::Equal));
    assert_eq!(lt, l < r, "(<)\n l: {l:?}\n r: {r:?}");
    assert_eq!(le, l <= r, "(<=)\n l: {l:?}\n r: {r:?}");
    assert_eq!(gt, l > r, "(>)\n l: {l:?}\n r: {r:?}");
    assert_eq!(ge, l >= r, "(>=)\n l: {l:?}\n r: {r:?}");
    assert_eq!(gt, r < l, "alt (<)\n l: {l:?}\n r: {r:?}");
    assert_eq!(ge, r <= l, "alt (<=)\n l: {l:?}\n r: {r:?}");
    assert_eq!(lt, r > l, "alt (>)\n l: {l:?}\n r: {r:?}");
    assert_eq!(le, r >= l, "alt (>=)\n l: {l:?}\n r: {r:?}");
    let eq = o == Some(Ordering::Equal);
    assert_eq!(eq, l == r, "(==)\n l: {l:?}\n r: {r:?}");
    if eq {
        assert_eq!(hash_of(l), hash_of(r), "hash\n l: {l:?}\n r: {r:?}");
    }
}

fn assert_order_slices(l: &[Timestamp], r: &[Timestamp], o: Option<Ordering>) {
    assert_eq!(ref_cmp(l, r), o, "reference disagrees with the test table");
    let (lc, rc) = (VClock::from_slice(l), VClock::from_slice(r));
    assert_order(&lc, &rc, o);
    assert_order(&spilled(l), &rc, o);
    assert_order(&lc, &spilled(r), o);
    assert_order(&spilled(l), &spilled(r), o);
}

#[test]
fn order_table() {
    use Ordering::*;
    assert_order_slices(&[], &[], Some(Equal));
    assert_order_slices(&[0, 0], &[], Some(Equal));
    assert_order_slices(&[1], &[1], Some(Equal));
    assert_order_slices(&[1], &[2], Some(Less));
    assert_order_slices(&[2], &[1], Some(Greater));
    assert_order_slices(&[1], &[1, 2], Some(Less));
    assert_order_slices(&[2], &[1, 2], None);
    assert_order_slices(&[400], &[0, 1], None);
    assert_order_slices(&[0, 1], &[0, 1, 0, 0], Some(Equal));
    let base: Vec<Timestamp> = (0..11).collect();
    let mut longer = base.clone();
    longer.extend([0, 0, 0]);
    assert_order_slices(&base, &longer, Some(Equal));
    longer[12] = 1;
    assert_order_slices(&base, &longer, Some(Less));
    let mut bigger = base.clone();
    bigger[10] = 11;
    assert_order_slices(&bigger, &base, Some(Greater));
    assert_order_slices(&bigger, &longer, None);
    let mut smaller = base.clone();
    smaller[10] = 9;
    assert_order_slices(&smaller, &base, Some(Less));
    assert_order_slices(&smaller, &longer, Some(Less));
}

#[test]
fn equality_ignores_trailing_zeros_and_storage() {
    let mut a = VClock::new();
    let mut b = VClock::new();
    assert_eq!(a, b);
    a.increment(t(5));
    assert_ne!(a, b);
    b.increment(t(53));
    assert_ne!(a, b);
    a.increment(t(53));
    assert_ne!(a, b);
    b.increment(t(5));
    assert_eq!(a, b);
    assert_eq!(hash_of(&a), hash_of(&b));

    // Setting the top entry back to zero shortens the clock.
    a.set_at(t(53), 0);
    assert_eq!(a.len(), 6);
    assert_eq!(a, VClock::from_slice(&[0, 0, 0, 0, 0, 1, 0, 0]));
    assert!(
        !a.is_inline(),
        "shrinking does not move storage back inline"
    );
    assert!(VClock::from_slice(&[0, 0, 0, 0, 0, 1]).is_inline());
    assert_eq!(
        hash_of(&a),
        hash_of(&VClock::from_slice(&[0, 0, 0, 0, 0, 1]))
    );
    // A clone of a short heap clock is inline again, and equal.
    let c = a.clone();
    assert!(c.is_inline());
    assert_eq!(c, a);
    a.set_at(t(5), 0);
    assert!(a.is_empty());
    assert_eq!(a, VClock::new());
}

#[test]
fn set_at_zero_never_leaves_trailing_zero() {
    let mut c = VClock::from_slice(&[0, 1, 2, 3]);
    c.set_at(t(4), 0); // beyond the end: no-op, not a stored 0
    assert_eq!(c.as_slice(), &[0, 1, 2, 3]);
    c.set_at(t(20), 0);
    assert_eq!(c.as_slice(), &[0, 1, 2, 3]);
    c.set_at(t(3), 0);
    c.set_at(t(2), 0);
    assert_eq!(c.as_slice(), &[0, 1]);
    // Inline buffer beyond len stays zero: growing again shows zeros.
    c.set_at(t(4), 7);
    assert_eq!(c.as_slice(), &[0, 1, 0, 0, 7]);
}

#[test]
fn spill_and_storage() {
    let mut c = VClock::new();
    for i in 0..INLINE_LEN as u32 {
        c.increment(t(i));
        assert!(c.is_inline());
        assert_eq!(c.heap_bytes(), 0);
    }
    c.increment(t(INLINE_LEN as u32));
    assert!(!c.is_inline());
    assert_eq!(c.len(), INLINE_LEN + 1);
    assert_eq!(c.heap_bytes(), (INLINE_LEN + 1) * 8);
    assert_eq!(c.as_slice(), &[1; INLINE_LEN + 1]);
    let mut d = VClock::from_slice(&[5; 20]);
    d.clone_from(&c);
    assert_eq!(d, c);
    d.clone_from(&VClock::from_slice(&[1, 2]));
    assert!(d.is_inline());
    assert_eq!(d.as_slice(), &[1, 2]);
    c.clear();
    assert!(c.is_empty() && c.is_inline());
    // The clock type stays small: 8 inline stamps plus tag and length.
    assert!(std::mem::size_of::<VClock>() <= 8 * INLINE_LEN + 8);
}

#[test]
fn increment_get_join_basics() {
    let mut a = VClock::new();
    assert_eq!(a.get(t(3)), 0);
    assert_eq!(a.increment(t(3)), 1);
    assert_eq!(a.increment(t(3)), 2);
    assert_eq!(a.get(t(3)), 2);
    assert_eq!(a.get(t(100)), 0);
    let mut b = VClock::from_slice(&[4, 0, 0, 1, 0, 0, 0, 0, 0, 9]);
    b.join(&a);
    assert_eq!(b.as_slice(), &[4, 0, 0, 2, 0, 0, 0, 0, 0, 9]);
    a.join(&b);
    assert_eq!(a, b);
}

#[test]
fn epoch_basics() {
    let c = VClock::from_slice(&[3, 0, 5]);
    assert!(Epoch::new(t(0), 3).happens_before(&c));
    assert!(!Epoch::new(t(0), 4).happens_before(&c));
    assert!(!Epoch::new(t(1), 1).happens_before(&c));
    assert!(Epoch::new(t(1), 0).happens_before(&c));
    assert!(!Epoch::new(t(9), 1).happens_before(&c));
    assert_eq!(Epoch::new(t(2), 5).to_string(), "5@T2");
}

/// Clocks with lengths around the inline boundary and small values, so
/// that equal, ordered and concurrent pairs are all common.
fn generated_clocks(rng: &mut Rng, n: usize) -> Vec<Vec<Timestamp>> {
    let mut out = vec![vec![], vec![0, 0, 0]];
    while out.len() < n {
        let len = rng.below(INLINE_LEN as u64 * 2 + 4) as usize;
        let max = 1 + rng.below(3);
        let v: Vec<Timestamp> = (0..len).map(|_| rng.below(max + 1)).collect();
        out.push(v);
        // Near neighbours of an existing clock: one entry bumped/lowered.
        let base = out[rng.below(out.len() as u64) as usize].clone();
        if !base.is_empty() {
            let mut w = base;
            let i = rng.below(w.len() as u64) as usize;
            w[i] = if rng.below(2) == 0 {
                w[i] + 1
            } else {
                w[i].saturating_sub(1)
            };
            out.push(w);
        }
    }
    out
}

#[test]
fn fast_paths_match_reference_on_generated_clocks() {
    let mut rng = Rng::new(0x5eed_c10c);
    let raw = generated_clocks(&mut rng, 160);
    // Each value in both storage forms.
    let clocks: Vec<(&Vec<Timestamp>, VClock)> = raw
        .iter()
        .flat_map(|v| [(v, VClock::from_slice(v)), (v, spilled(v))])
        .collect();
    let mut seen = [0usize; 4];
    for (a, ca) in &clocks {
        assert_eq!(ca.as_slice(), VClock::from_slice(a).as_slice());
        for i in 0..INLINE_LEN * 2 + 6 {
            let e = Epoch::new(t(i as u32), rng.below(5));
            for (b, cb) in clocks.iter().take(24) {
                assert_eq!(e.happens_before(cb), e.ts <= ref_get(b, i));
            }
        }
        for (b, cb) in &clocks {
            let o = ref_cmp(a, b);
            seen[match o {
                Some(Ordering::Less) => 0,
                Some(Ordering::Equal) => 1,
                Some(Ordering::Greater) => 2,
                None => 3,
            }] += 1;
            assert_order(ca, cb, o);
            assert_eq!(ref_eq(a, b), ca == cb);

            let mut j = ca.clone();
            j.join(cb);
            assert_eq!(j, VClock::from_slice(&ref_join(a, b)), "join {a:?} {b:?}");
            assert!(j.as_slice().last() != Some(&0));
            assert!(*ca <= j && *cb <= j);
            // Epoch check: the epoch of each of b's entries vs a.
            for (i, &ts) in b.iter().enumerate() {
                let e = Epoch::new(t(i as u32), ts);
                assert_eq!(e.happens_before(ca), ts <= ref_get(a, i));
            }
        }
    }
    // The generator exercises every outcome, not just concurrency.
    assert!(seen.iter().all(|&n| n > 500), "outcome counts {seen:?}");
}

#[test]
fn join_laws_and_partial_order_laws() {
    let mut rng = Rng::new(42);
    let raw = generated_clocks(&mut rng, 48);
    let clocks: Vec<VClock> = raw
        .iter()
        .enumerate()
        .map(|(i, v)| {
            if i % 2 == 0 {
                VClock::from_slice(v)
            } else {
                spilled(v)
            }
        })
        .collect();
    let join = |a: &VClock, b: &VClock| {
        let mut j = a.clone();
        j.join(b);
        j
    };
    for a in &clocks {
        // Reflexive, idempotent.
        assert!(a <= a);
        assert_eq!(join(a, a), *a);
        for b in &clocks {
            // Commutative; join is the least upper bound.
            let ab = join(a, b);
            assert_eq!(ab, join(b, a));
            assert!(a <= &ab && b <= &ab);
            assert_eq!(a <= b, ab == *b);
            // Antisymmetric.
            if a <= b && b <= a {
                assert_eq!(a, b);
            }
            for c in &clocks {
                // Associative.
                assert_eq!(join(&ab, c), join(a, &join(b, c)));
                // Transitive.
                if a <= b && b <= c {
                    assert!(a <= c);
                }
                // Least: any upper bound of a and b is above their join.
                if a <= c && b <= c {
                    assert!(ab <= *c);
                }
            }
        }
    }
}

#[test]
fn random_walks_inline_and_spilled_agree() {
    // The same operation sequence on a clock that starts inline and one
    // forced onto the heap keeps them equal, with no trailing zeros.
    let mut rng = Rng::new(7);
    for _ in 0..200 {
        let mut a = VClock::new();
        let mut b = spilled(&[]);
        let mut r: Vec<Timestamp> = Vec::new();
        for _ in 0..40 {
            let i = rng.below(INLINE_LEN as u64 + 6) as usize;
            match rng.below(3) {
                0 => {
                    a.increment(t(i as u32));
                    b.increment(t(i as u32));
                    if r.len() <= i {
                        r.resize(i + 1, 0);
                    }
                    r[i] += 1;
                }
                1 => {
                    let ts = rng.below(3);
                    a.set_at(t(i as u32), ts);
                    b.set_at(t(i as u32), ts);
                    if r.len() <= i {
                        r.resize(i + 1, 0);
                    }
                    r[i] = ts;
                }
                _ => {
                    let other: Vec<Timestamp> = (0..rng.below(12)).map(|_| rng.below(4)).collect();
                    a.join(&VClock::from_slice(&other));
                    b.join(&spilled(&other));
                    r = ref_join(&r, &other);
                }
            }
            assert_eq!(a, b);
            assert_eq!(a, VClock::from_slice(&r));
            assert_eq!(hash_of(&a), hash_of(&b));
            for i in 0..INLINE_LEN + 8 {
                assert_eq!(a.get(t(i as u32)), ref_get(&r, i));
            }
        }
    }
}
