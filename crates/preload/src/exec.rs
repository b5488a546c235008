//! Program starts (`exec*`, `posix_spawn*`): a program LD_PRELOAD cannot
//! enter is noted in the run directory (push_rt::exec_note), then started
//! as asked.

use crate::kernel_paths::{path_copy, vec_arg, vec_copy};
use libc::c_int;
use push_rt as rt;
use push_rt::real::get as real;

// Program starts: a program LD_PRELOAD cannot enter is noted in the run
// directory (push_rt::exec_note), then started as asked.
// ---------------------------------------------------------------------------

type CStrP = *const libc::c_char;

/// A C string argument, None for null.
///
/// # Safety
/// `p` is null or a NUL-terminated string that outlives `'a`.
unsafe fn c_str_arg<'a>(p: CStrP) -> Option<&'a core::ffi::CStr> {
    // SAFETY: per the contract.
    (!p.is_null()).then(|| unsafe { core::ffi::CStr::from_ptr(p) })
}
type Argv = *const *const libc::c_char;
type SpawnArgv = *const *mut libc::c_char;

#[no_mangle]
pub unsafe extern "C" fn execve(path: CStrP, argv: Argv, envp: Argv) -> c_int {
    // SAFETY: the caller passes a valid path (or null); check only reads it.
    rt::exec_note::check(unsafe { c_str_arg(path) }, false);
    // SAFETY: the caller's strings; copies outside the tracked arena under
    // the annotation-free mode (see kernel_paths).
    let (p, a, e) = unsafe { (path_copy(path), vec_copy(argv), vec_copy(envp)) };
    let path_arg = p.as_ref().map_or(path, |c| c.as_ptr());
    // SAFETY: the caller's arguments, perhaps as equal copies.
    unsafe { real::execve()(path_arg, vec_arg(argv, &a), vec_arg(envp, &e)) }
}

#[no_mangle]
pub unsafe extern "C" fn execv(path: CStrP, argv: Argv) -> c_int {
    // SAFETY: as in execve.
    rt::exec_note::check(unsafe { c_str_arg(path) }, false);
    // SAFETY: as in execve.
    let (p, a) = unsafe { (path_copy(path), vec_copy(argv)) };
    let path_arg = p.as_ref().map_or(path, |c| c.as_ptr());
    // SAFETY: the caller's arguments, perhaps as equal copies.
    unsafe { real::execv()(path_arg, vec_arg(argv, &a)) }
}

#[no_mangle]
pub unsafe extern "C" fn execvp(file: CStrP, argv: Argv) -> c_int {
    // SAFETY: as in execve; the file is looked up in PATH.
    rt::exec_note::check(unsafe { c_str_arg(file) }, true);
    // SAFETY: as in execve.
    let (p, a) = unsafe { (path_copy(file), vec_copy(argv)) };
    let file_arg = p.as_ref().map_or(file, |c| c.as_ptr());
    // SAFETY: the caller's arguments, perhaps as equal copies.
    unsafe { real::execvp()(file_arg, vec_arg(argv, &a)) }
}

#[no_mangle]
pub unsafe extern "C" fn execvpe(file: CStrP, argv: Argv, envp: Argv) -> c_int {
    // SAFETY: as in execvp.
    rt::exec_note::check(unsafe { c_str_arg(file) }, true);
    // SAFETY: as in execve.
    let (p, a, e) = unsafe { (path_copy(file), vec_copy(argv), vec_copy(envp)) };
    let file_arg = p.as_ref().map_or(file, |c| c.as_ptr());
    // SAFETY: the caller's arguments, perhaps as equal copies.
    unsafe { real::execvpe()(file_arg, vec_arg(argv, &a), vec_arg(envp, &e)) }
}

#[no_mangle]
pub unsafe extern "C" fn posix_spawn(
    pid: *mut libc::pid_t,
    path: CStrP,
    actions: *const libc::posix_spawn_file_actions_t,
    attr: *const libc::posix_spawnattr_t,
    argv: SpawnArgv,
    envp: SpawnArgv,
) -> c_int {
    // SAFETY: as in execve.
    rt::exec_note::check(unsafe { c_str_arg(path) }, false);
    // SAFETY: as in execve.
    let (p, a, e) = unsafe {
        (
            path_copy(path),
            vec_copy(argv.cast()),
            vec_copy(envp.cast()),
        )
    };
    let path_arg = p.as_ref().map_or(path, |c| c.as_ptr());
    let (argv, envp) = (
        vec_arg(argv.cast(), &a).cast(),
        vec_arg(envp.cast(), &e).cast(),
    );
    // SAFETY: the caller's arguments, perhaps as equal copies.
    unsafe { real::posix_spawn()(pid, path_arg, actions, attr, argv, envp) }
}

#[no_mangle]
pub unsafe extern "C" fn posix_spawnp(
    pid: *mut libc::pid_t,
    file: CStrP,
    actions: *const libc::posix_spawn_file_actions_t,
    attr: *const libc::posix_spawnattr_t,
    argv: SpawnArgv,
    envp: SpawnArgv,
) -> c_int {
    // SAFETY: as in execvp.
    rt::exec_note::check(unsafe { c_str_arg(file) }, true);
    // SAFETY: as in execve.
    let (p, a, e) = unsafe {
        (
            path_copy(file),
            vec_copy(argv.cast()),
            vec_copy(envp.cast()),
        )
    };
    let file_arg = p.as_ref().map_or(file, |c| c.as_ptr());
    let (argv, envp) = (
        vec_arg(argv.cast(), &a).cast(),
        vec_arg(envp.cast(), &e).cast(),
    );
    // SAFETY: the caller's arguments, perhaps as equal copies.
    unsafe { real::posix_spawnp()(pid, file_arg, actions, attr, argv, envp) }
}
