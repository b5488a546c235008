//! Tracked objects: where they live, their policy, and the lock-free lookup
//! from an address to the object holding it.
//!
//! Every tracked heap object has a virtual page of its own in one reserved
//! arena, so its protection key can be set alone; an object's id is the
//! number of its first arena page, and its metadata (32 bytes) sits at that
//! index of one table, so a lookup is one load (two inside a large object:
//! a table of 4-byte entries names the first page of each later page).
//!
//! Small objects (up to 2 KiB, in size classes) are packed: slots of a class
//! share physical pages of a memfd, never virtual ones; objects of more than
//! 2 KiB get whole anonymous pages. Tracked globals live in the
//! application's own `.bss` and take the ids that follow the arena's pages.
//! `maps` keeps the count of kernel mappings under the budget; each key
//! change reports how many runs of equal keys it made or joined.
//!
//! Lookups and key changes are lock-free and allocation-free (the fault
//! handler uses them); allocation and free take the allocator's mutex
//! (never from a signal handler).
//!
//! The parts, each in its own file:
//! * `object`: [`Policy`] and its one-word encoding, and [`Object`], the
//!   32 bytes of metadata per id (its state bits, sites and epochs);
//! * `table`: the arena and the id space, the tables, and the lookups
//!   ([`lookup`], [`object()`], [`in_arena`], the rehash scan);
//! * `alloc`: allocation and free of packed slots and large objects;
//! * `globals`: registration of globals;
//! * `keys`: putting an object's pages under a key, and counting the kernel
//!   mappings each change makes or joins;
//! * `fork`: giving a fork child its own copy of the objects in the memfd;
//! * `cache`: each thread's free packed slots, reused without the
//!   allocator's lock;
//! * `alias`: the packed objects' file mapped a second time, read-write,
//!   so lock calls on words inside them need no grant;
//! * `partition`: one allocation cut into page-aligned parts, each an
//!   object with its own policy.

mod alias;
mod alloc;
mod cache;
mod fork;
mod globals;
mod keys;
mod object;
mod partition;
mod table;

pub use self::alias::sync_alias;
pub use self::alloc::{alloc, free, AllocError, Origin, LIVE_OBJECTS, TRACKED_OBJECTS};
pub use self::cache::{flush as flush_slot_cache, free_cached};
pub use self::fork::{after_fork_child, after_fork_parent, before_fork};
pub use self::globals::register_global;
pub use self::keys::{move_key, reapply_key, set_key, set_policy_key};
pub use self::object::{pack_epoch, unpack_epoch, Object, Policy, WATCHED};
pub use self::partition::{
    allocation_size, is_later_part, is_partitioned, partition, PartitionError,
};
pub use self::table::{
    arena_page, in_arena, init, local_index, lookup, object, prefetch_lookup, scan_id, scan_len,
    used_ids, ARENA_PAGES, ARENA_SIZE, MAX_IDS,
};
