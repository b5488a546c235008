//! `unsafe impl Zeroable` for the runtime's table types.
//!
//! # Safety
//! [`Zeroable`] promises that the all-zero bit pattern is a valid value of
//! the type. Each impl below names why: every field is an integer, an
//! atomic integer or boolean, an `AtomicPtr` (zero is null), or an array of
//! those. A change to one of these types that adds another kind of field
//! (a reference, a `NonZero*`, an enum without a zero variant, a `Box`)
//! must revisit its impl here.
//!
//! The impls live here rather than next to each type so that the modules
//! declaring the types stay under `#![deny(unsafe_code)]`; it costs the
//! types `pub(crate)` visibility, not their fields'.

use super::mem::Zeroable;

// SAFETY: atomics, arrays of atomics, `HeldLock`s (below) and a
// `SlotCache` (atomic integers and arrays of them: zero is an empty
// cache): zero is a free record.
unsafe impl Zeroable for crate::threads::ThreadRecord {}
// SAFETY: atomics only: zero is an empty held-lock entry.
unsafe impl Zeroable for crate::threads::HeldLock {}
// SAFETY: atomic integers only: zero is a free object slot.
unsafe impl Zeroable for crate::registry::Object {}
// SAFETY: atomic integers only: zero is an empty index slot.
unsafe impl Zeroable for crate::hb::ExSlot {}
// SAFETY: atomic integers, an array of them and a `OncePtr` (zero is
// null: no spill): zero is an unused clock.
unsafe impl Zeroable for crate::hb::ExClock {}
// SAFETY: atomic integers only: zero is an empty lockset entry.
unsafe impl Zeroable for crate::domains::lockset::LockEntry {}
// SAFETY: atomic integers and an array of them: zero is an empty entry.
unsafe impl Zeroable for crate::stack::DepotEntry {}
// SAFETY: integers, arrays of integers, a `Stack` (below) and `repr(u8)`
// enums whose variant 0 exists (`Kind::Race`, `Api::Allocation`,
// `Refusal::Untracked`); padding may hold anything.
unsafe impl Zeroable for crate::report::RawReport {}
// SAFETY: an integer and an array of integers: zero is an empty stack.
unsafe impl Zeroable for crate::stack::Stack {}
// SAFETY: atomic integers and an array of `Entry`s (atomic integers only):
// zero is a free record.
unsafe impl Zeroable for crate::auto::seen::Record {}
