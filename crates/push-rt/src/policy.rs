//! The policy decision, shared by both enforcement backends: may this thread
//! make this access now, and may it change this object's policy. Pure
//! functions of the policy, the thread and the locks it holds; no hardware,
//! no tables.
#![forbid(unsafe_code)]

use crate::registry::Policy;

/// What the thread asking is, as far as the decision needs to know.
#[derive(Clone, Copy, Debug)]
pub struct Asker<H: Fn(usize) -> Option<bool>> {
    /// The thread's id.
    pub id: u32,
    /// For a lock address: None if the thread does not hold it, Some(true)
    /// if it holds it exclusively, Some(false) if shared.
    pub holds: H,
    /// The thread holds more locks than its record can list: lock checks
    /// give it the benefit of the doubt.
    pub overflowed: bool,
}

/// The answer for one access.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Verdict {
    Allow,
    Deny,
    /// Private to another thread: allowed only if that thread has exited
    /// and the asker joined it (the caller checks, and hands the object over).
    OwnerMayHaveExited(u32),
}

/// May the asker read (or write) an object under `policy`?
pub fn access<H: Fn(usize) -> Option<bool>>(
    policy: Option<Policy>,
    who: &Asker<H>,
    write: bool,
) -> Verdict {
    let yes = |b: bool| if b { Verdict::Allow } else { Verdict::Deny };
    match policy {
        Some(Policy::Private(owner)) if owner == who.id => Verdict::Allow,
        Some(Policy::Private(owner)) => Verdict::OwnerMayHaveExited(owner),
        Some(Policy::ReadOnly) => yes(!write),
        Some(Policy::ProtectedBy(lock)) => match (who.holds)(lock) {
            Some(exclusive) => yes(exclusive || !write),
            None => yes(who.overflowed),
        },
        Some(Policy::Released) => Verdict::Deny,
        Some(Policy::Racy) | None => Verdict::Allow,
    }
}

/// May the asker change the policy of an object under `policy`? The owner
/// of a private object, the exclusive holder of the protecting lock, or
/// anyone for read-only, released and racy objects.
pub fn change<H: Fn(usize) -> Option<bool>>(policy: Option<Policy>, who: &Asker<H>) -> Verdict {
    match policy {
        Some(Policy::Private(owner)) if owner == who.id => Verdict::Allow,
        Some(Policy::Private(owner)) => Verdict::OwnerMayHaveExited(owner),
        Some(Policy::ProtectedBy(lock)) => {
            if (who.holds)(lock) == Some(true) || who.overflowed {
                Verdict::Allow
            } else {
                Verdict::Deny
            }
        }
        Some(Policy::ReadOnly | Policy::Released | Policy::Racy) => Verdict::Allow,
        None => Verdict::Deny,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const L: usize = 0x1000;
    const OTHER: usize = 0x2000;

    fn asker(id: u32, held: Option<bool>) -> Asker<impl Fn(usize) -> Option<bool>> {
        Asker {
            id,
            holds: move |l| if l == L { held } else { None },
            overflowed: false,
        }
    }

    #[test]
    fn private_objects_belong_to_their_owner() {
        let p = Some(Policy::Private(3));
        for write in [false, true] {
            assert_eq!(access(p, &asker(3, None), write), Verdict::Allow);
            assert_eq!(
                access(p, &asker(4, Some(true)), write),
                Verdict::OwnerMayHaveExited(3)
            );
        }
    }

    #[test]
    fn readonly_objects_are_read_by_all_written_by_none() {
        let p = Some(Policy::ReadOnly);
        assert_eq!(access(p, &asker(1, None), false), Verdict::Allow);
        assert_eq!(access(p, &asker(1, None), true), Verdict::Deny);
        assert_eq!(access(p, &asker(1, Some(true)), true), Verdict::Deny);
    }

    #[test]
    fn protected_objects_follow_the_lock() {
        let p = Some(Policy::ProtectedBy(L));
        assert_eq!(access(p, &asker(1, None), false), Verdict::Deny);
        assert_eq!(access(p, &asker(1, None), true), Verdict::Deny);
        assert_eq!(access(p, &asker(1, Some(false)), false), Verdict::Allow);
        assert_eq!(access(p, &asker(1, Some(false)), true), Verdict::Deny);
        assert_eq!(access(p, &asker(1, Some(true)), true), Verdict::Allow);
        let other = Some(Policy::ProtectedBy(OTHER));
        assert_eq!(access(other, &asker(1, Some(true)), false), Verdict::Deny);
        let overflowed = Asker {
            id: 1,
            holds: |_| None,
            overflowed: true,
        };
        assert_eq!(access(p, &overflowed, true), Verdict::Allow);
    }

    #[test]
    fn released_refuses_everyone_and_racy_allows_everyone() {
        for write in [false, true] {
            assert_eq!(
                access(Some(Policy::Released), &asker(1, Some(true)), write),
                Verdict::Deny
            );
            assert_eq!(
                access(Some(Policy::Racy), &asker(1, None), write),
                Verdict::Allow
            );
            assert_eq!(access(None, &asker(1, None), write), Verdict::Allow);
        }
    }

    #[test]
    fn who_may_change_a_policy() {
        assert_eq!(
            change(Some(Policy::Private(2)), &asker(2, None)),
            Verdict::Allow
        );
        assert_eq!(
            change(Some(Policy::Private(2)), &asker(5, None)),
            Verdict::OwnerMayHaveExited(2)
        );
        let p = Some(Policy::ProtectedBy(L));
        assert_eq!(change(p, &asker(1, Some(true))), Verdict::Allow);
        assert_eq!(change(p, &asker(1, Some(false))), Verdict::Deny);
        assert_eq!(change(p, &asker(1, None)), Verdict::Deny);
        for anyone in [Policy::ReadOnly, Policy::Released, Policy::Racy] {
            assert_eq!(change(Some(anyone), &asker(9, None)), Verdict::Allow);
        }
        assert_eq!(change(None, &asker(1, None)), Verdict::Deny);
    }
}
