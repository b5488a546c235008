//! Programs of a run that PUSh cannot enter: at `execve`, `execv`,
//! `execvp`, `execvpe`, `posix_spawn` and `posix_spawnp`, the runtime looks
//! at the program about to start, and when LD_PRELOAD cannot load PUSh into
//! it (statically linked, set-user-ID or set-group-ID, 32-bit), appends
//! `PATH<TAB>REASON` to `<run dir>/unwatched.<pid>`, so that `push run`
//! names it at the end of the run. The variadic `execl*` calls (which Rust
//! cannot define) and glibc's internal starts (`system`, `popen`: they run
//! `/bin/sh`, which is checked when it execs) are not seen.
//!
//! Async-signal-safe: an exec hook runs in a forked (or vforked) child of a
//! multi-threaded program. System calls and stack buffers only, no
//! allocation, no lock; the run directory is captured at start-up.

use core::ffi::CStr;
use std::ffi::CString;
use std::sync::OnceLock;

static RUN_DIR: OnceLock<CString> = OnceLock::new();

/// The notes' file names: this prefix and the pid (`run_dir` reads them
/// back at the end of the run).
pub const NOTES_PREFIX: &str = "unwatched.";

/// At start-up (ordinary context): captures the run directory, if any.
pub fn init(dir: Option<&str>) {
    if let Some(c) = dir.and_then(|d| CString::new(d).ok()) {
        let _ = RUN_DIR.set(c);
    }
}

/// A fixed buffer that strings are appended to.
struct Buf {
    b: [u8; 4096],
    len: usize,
}

impl Buf {
    fn new() -> Buf {
        Buf {
            b: [0; 4096],
            len: 0,
        }
    }
    fn push(&mut self, s: &[u8]) -> bool {
        if self.len + s.len() >= self.b.len() {
            return false;
        }
        self.b[self.len..self.len + s.len()].copy_from_slice(s);
        self.len += s.len();
        true
    }
    fn push_u32(&mut self, mut n: u32) -> bool {
        let mut d = [0u8; 10];
        let mut i = d.len();
        loop {
            i -= 1;
            d[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.push(&d[i..])
    }
    /// NUL-terminated, for a system call (up to its first NUL, as the
    /// kernel would read it).
    fn c_str(&mut self) -> Option<&CStr> {
        if self.len >= self.b.len() {
            return None;
        }
        self.b[self.len] = 0;
        CStr::from_bytes_until_nul(&self.b[..=self.len]).ok()
    }
}

/// Checks the program an exec or spawn is about to start (`search`: looked
/// up in PATH like `execvp`). Async-signal-safe; errno is preserved.
/// `path` is None for a null pointer.
pub fn check(path: Option<&CStr>, search: bool) {
    let Some(dir) = RUN_DIR.get() else { return };
    let Some(path) = path else { return };
    let saved = crate::sys::errno();
    let name = path.to_bytes();
    let mut file = Buf::new();
    if search && !name.contains(&b'/') {
        let found = crate::sys::with_env(c"PATH", |p| {
            let dirs: &[u8] = p.unwrap_or(b"/bin:/usr/bin");
            for d in dirs.split(|&c| c == b':') {
                file.len = 0;
                let d: &[u8] = if d.is_empty() { b"." } else { d };
                if !(file.push(d) && file.push(b"/") && file.push(name)) {
                    continue;
                }
                let Some(c) = file.c_str() else { continue };
                if crate::sys::access(c, libc::X_OK) {
                    return true;
                }
            }
            false
        });
        if !found {
            crate::sys::set_errno(saved);
            return;
        }
    } else if !file.push(name) {
        return;
    }
    if let Some(reason) = file.c_str().and_then(unwatchable) {
        note(dir, &file.b[..file.len], reason);
    }
    crate::sys::set_errno(saved);
}

/// Why LD_PRELOAD cannot enter the program at `path`, if it cannot.
fn unwatchable(path: &CStr) -> Option<&'static [u8]> {
    let fd = crate::sys::open(path, libc::O_RDONLY | libc::O_CLOEXEC, 0);
    if fd < 0 {
        return None;
    }
    let r = classify(fd);
    crate::sys::close(fd);
    r
}

fn classify(fd: i32) -> Option<&'static [u8]> {
    let st = crate::sys::fstat(fd)?;
    let mut h = [0u8; 64];
    if crate::sys::pread(fd, &mut h, 0) != 64 || &h[..4] != b"\x7fELF" {
        return None; // a script: its interpreter is what runs
    }
    let (euid, egid) = crate::sys::effective_ids();
    if (st.st_mode & libc::S_ISUID != 0 && st.st_uid != euid)
        || (st.st_mode & libc::S_ISGID != 0 && st.st_gid != egid)
    {
        return Some(b"is set-user-ID or set-group-ID: the loader ignores LD_PRELOAD for it");
    }
    if h[4] != 2 {
        return Some(b"is a 32-bit program: PUSh checks only x86-64 programs");
    }
    let phoff = u64::from_le_bytes(h[0x20..0x28].try_into().ok()?);
    let phentsize = usize::from(u16::from_le_bytes(h[0x36..0x38].try_into().ok()?));
    let phnum = usize::from(u16::from_le_bytes(h[0x38..0x3a].try_into().ok()?));
    let mut ph = [0u8; 4096];
    let len = (phentsize * phnum).min(ph.len());
    if phentsize < 4 {
        return None;
    }
    let got = crate::sys::pread(fd, &mut ph[..len], phoff);
    if got < len as isize {
        return None;
    }
    const PT_INTERP: u32 = 3;
    let dynamic = (0..len / phentsize).any(|i| {
        let o = i * phentsize;
        u32::from_le_bytes([ph[o], ph[o + 1], ph[o + 2], ph[o + 3]]) == PT_INTERP
    });
    (!dynamic).then_some(b"is statically linked: LD_PRELOAD cannot load PUSh into it")
}

fn note(dir: &CString, file: &[u8], reason: &[u8]) {
    let mut name = Buf::new();
    if !(name.push(dir.as_bytes())
        && name.push(b"/")
        && name.push(NOTES_PREFIX.as_bytes())
        && name.push_u32(crate::sys::getpid() as u32))
    {
        return;
    }
    let mut line = Buf::new();
    if !(line.push(file) && line.push(b"\t") && line.push(reason) && line.push(b"\n")) {
        return;
    }
    let Some(c) = name.c_str() else { return };
    let fd = crate::sys::open(
        c,
        libc::O_WRONLY | libc::O_CREAT | libc::O_APPEND | libc::O_CLOEXEC,
        0o644,
    );
    if fd >= 0 {
        crate::sys::write_all(fd, &line.b[..line.len]);
        crate::sys::close(fd);
    }
}
