//! `pkey_alloc`/`pkey_free` interposers: a program that uses protection
//! keys itself shares the key space with PUSh.

use crate::passthrough;
use core::sync::atomic::{AtomicBool, Ordering};
use libc::c_int;
use push_rt as rt;
use push_rt::real::get as real;

/// Serializes the hand-over of PUSh's keys to the program.
static GIVING_KEY: AtomicBool = AtomicBool::new(false);

/// A program that uses protection keys itself (a JIT, a language runtime)
/// shares the key space with PUSh: when none is free, PUSh gives it one of
/// its domain keys (it keeps at least two) and leaves that key's PKRU bits
/// to the program from then on.
#[no_mangle]
pub unsafe extern "C" fn pkey_alloc(flags: libc::c_uint, rights: libc::c_uint) -> c_int {
    // SAFETY: unchanged arguments.
    let mut r = unsafe { real::pkey_alloc()(flags, rights) };
    if r < 0 && rt::sys::errno() == libc::ENOSPC && rt::backend::is_mpk() && !passthrough() {
        while GIVING_KEY
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            core::hint::spin_loop();
        }
        let given = {
            let _inside = rt::enter();
            rt::domains::give_key_to_program()
        };
        GIVING_KEY.store(false, Ordering::Release);
        if given {
            // SAFETY: unchanged arguments.
            r = unsafe { real::pkey_alloc()(flags, rights) };
        } else {
            rt::sys::set_errno(libc::ENOSPC);
        }
    }
    if r >= 0 {
        rt::domains::note_program_key(r as u32, true);
    }
    r
}

#[no_mangle]
pub unsafe extern "C" fn pkey_free(key: c_int) -> c_int {
    // SAFETY: unchanged argument.
    let r = unsafe { real::pkey_free()(key) };
    if r == 0 && key >= 0 {
        rt::domains::note_program_key(key as u32, false);
    }
    r
}
