//! Tracked statics: the Rust counterpart of `PUSH_GLOBAL` in `push.h`.

use core::ops::{Deref, DerefMut};

/// The storage of a [`tracked_static!`](crate::tracked_static): the value
/// alone on whole pages (aligned to a page, its size rounded up to pages),
/// so that its protection can be set without touching any other static.
///
/// The macro registers it with the runtime before `main`; from then on it
/// is a tracked object private to the main thread, like a new allocation.
/// Change its policy with the [`policy`](crate::policy) functions, given
/// its address (`&NAME`, or `addr_of!(NAME)` for a `static mut`). Reach the
/// value through `Deref` or the public [`value`](TrackedStatic::value)
/// field (`addr_of_mut!(NAME.value)` for a `static mut`).
///
/// Made by hand (without the macro) it is just page-aligned storage,
/// untracked.
///
/// ```
/// use push_annotate::TrackedStatic;
///
/// static PLAIN: TrackedStatic<u32> = TrackedStatic::new(7);
/// assert_eq!(*PLAIN, 7);
/// assert_eq!(core::mem::align_of_val(&PLAIN), 4096);
/// ```
#[repr(C, align(4096))]
pub struct TrackedStatic<T> {
    /// The value.
    pub value: T,
}

impl<T> TrackedStatic<T> {
    /// Page-aligned storage holding `value` (usable in a `static`).
    ///
    /// ```
    /// static COUNTS: push_annotate::TrackedStatic<[u8; 3]> =
    ///     push_annotate::TrackedStatic::new([0; 3]);
    /// assert_eq!(COUNTS.len(), 3);
    /// ```
    pub const fn new(value: T) -> Self {
        TrackedStatic { value }
    }
}

impl<T> Deref for TrackedStatic<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T> DerefMut for TrackedStatic<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.value
    }
}

/// Defines a tracked `static` (or `static mut`): its value lives on pages
/// of its own ([`TrackedStatic`]) and is registered with the runtime before
/// `main`, private to the main thread, like `PUSH_GLOBAL(type, name)` in C.
/// Without the runtime it is an ordinary (page-aligned) static.
///
/// ```
/// use push_annotate::{policy, sync::Mutex, tracked_static};
/// use std::ptr::{addr_of, addr_of_mut};
/// use std::sync::atomic::{AtomicU64, Ordering};
///
/// tracked_static! {
///     /// Requests served (relaxed atomics: intentionally racy).
///     pub static SERVED: AtomicU64 = AtomicU64::new(0);
/// }
/// tracked_static! { static mut TOTAL: u64 = 0; }
///
/// policy::set_racy(&SERVED).unwrap();
/// SERVED.fetch_add(1, Ordering::Relaxed);
///
/// let lock = Mutex::new(());
/// policy::set_protected_by(addr_of!(TOTAL), &lock).unwrap();
/// let _held = lock.lock().unwrap();
/// // SAFETY: TOTAL is only accessed with `lock` held.
/// unsafe { *addr_of_mut!(TOTAL.value) += 5 };
/// ```
///
/// This is the crate's one macro: a tracked static needs code generated
/// where it is defined (its page-aligned storage and a constructor that
/// registers it before `main`). Everything else is an ordinary function,
/// method or type, one line at the call site already, checked by the type
/// system, and documented where rustdoc shows it.
///
/// The registration is an `.init_array` entry next to the static; like any
/// such constructor it runs when the defining crate's code is linked in
/// (always, for a binary or test crate).
#[macro_export]
macro_rules! tracked_static {
    ($(#[$attr:meta])* $vis:vis static mut $name:ident : $ty:ty = $init:expr ;) => {
        $(#[$attr])*
        $vis static mut $name: $crate::TrackedStatic<$ty> = $crate::TrackedStatic::new($init);
        $crate::__register_tracked_static!($name, $ty);
    };
    ($(#[$attr:meta])* $vis:vis static $name:ident : $ty:ty = $init:expr ;) => {
        $(#[$attr])*
        $vis static $name: $crate::TrackedStatic<$ty> = $crate::TrackedStatic::new($init);
        $crate::__register_tracked_static!($name, $ty);
    };
}

/// The constructor of a [`tracked_static!`]: not for direct use.
#[doc(hidden)]
#[macro_export]
macro_rules! __register_tracked_static {
    ($name:ident, $ty:ty) => {
        const _: () = {
            extern "C" fn register() {
                // SAFETY: only the address is taken; nothing is read or
                // written (older compilers want `unsafe` for a `static mut`).
                #[allow(unused_unsafe)]
                let addr = unsafe { ::core::ptr::addr_of!($name) };
                $crate::__private::register_static(
                    addr.cast::<u8>(),
                    ::core::mem::size_of::<$ty>(),
                );
            }
            #[used]
            #[link_section = ".init_array"]
            static REGISTER: extern "C" fn() = register;
        };
    };
}

/// What the macros expand to; not a public API.
#[doc(hidden)]
pub mod __private {
    use crate::runtime::runtime;

    /// Registers the tracked static at `addr` (page-aligned) of `size`
    /// bytes with the runtime, if it is loaded.
    pub fn register_static(addr: *const u8, size: usize) {
        if size == 0 {
            return;
        }
        if let Some(rt) = runtime() {
            // SAFETY: the runtime only records the address range (crate::runtime # Safety).
            unsafe { (rt.register_global)(addr.cast_mut().cast(), size) }
        }
    }
}
