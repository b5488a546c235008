//! Defaults a program compiles in, as with ThreadSanitizer's
//! `__tsan_default_options`: a program that defines
//!
//! ```c
//! const char *push_default_options(void) { return "halt_on_error=1"; }
//! const char *push_default_suppressions(void) { return "race:third_party/*\n"; }
//! ```
//!
//! gets those options under whatever `PUSH_OPTIONS` (and `push run`'s
//! flags) say, and those suppressions next to the `suppressions` file's.
//!
//! An executable does not export its functions to the dynamic loader
//! (unless linked with `-rdynamic`), so `dlsym` finds them only then; the
//! runtime otherwise looks them up in the executable's own symbol table
//! (`.symtab`, present unless the binary is stripped) and adds the load
//! address. Ordinary context only (start-up).
//!
//! # Safety
//! The one place the runtime calls program code by address: a symbol
//! named `push_default_options`/`push_default_suppressions` is taken to be
//! the documented `const char *name(void)`, returning a NUL-terminated
//! string (or null). A program that defines the name otherwise breaks
//! that contract, as it would with `__tsan_default_options`.

use core::ffi::{c_char, CStr};
use std::os::unix::fs::FileExt;

/// The string `name()` returns, when the program defines `name`.
pub fn program_string(name: &str) -> Option<String> {
    let addr = find_function(name)?;
    // SAFETY: `addr` is the address of the program's function `name`,
    // documented as `const char *name(void)`; it is called once at
    // start-up with no argument.
    let f: extern "C" fn() -> *const c_char = unsafe { core::mem::transmute(addr) };
    let p = f();
    if p.is_null() {
        return None;
    }
    // SAFETY: the function returns a NUL-terminated string (a literal).
    Some(unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
}

fn find_function(name: &str) -> Option<usize> {
    let cname = std::ffi::CString::new(name).ok()?;
    // SAFETY: dlsym reads the loader's tables; RTLD_DEFAULT searches the
    // program and its libraries.
    let p = unsafe { libc::dlsym(libc::RTLD_DEFAULT, cname.as_ptr()) };
    if !p.is_null() {
        return Some(p as usize);
    }
    let (value, pie) = symtab_lookup(name)?;
    if !pie {
        return Some(value as usize);
    }
    Some(load_base()? + value as usize)
}

fn u16_at(b: &[u8], o: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(o..o + 2)?.try_into().ok()?))
}
fn u32_at(b: &[u8], o: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(o..o + 4)?.try_into().ok()?))
}
fn u64_at(b: &[u8], o: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(o..o + 8)?.try_into().ok()?))
}

fn read_at(f: &std::fs::File, off: u64, len: usize) -> Option<Vec<u8>> {
    // Section sizes come from the file: refuse absurd ones.
    if len > 512 << 20 {
        return None;
    }
    let mut v = vec![0u8; len];
    f.read_exact_at(&mut v, off).ok()?;
    Some(v)
}

/// The value of defined function symbol `name` in /proc/self/exe's
/// `.symtab` or `.dynsym`, and whether the executable is position
/// independent (the value is then relative to its load address).
fn symtab_lookup(name: &str) -> Option<(u64, bool)> {
    let f = std::fs::File::open("/proc/self/exe").ok()?;
    let eh = read_at(&f, 0, 64)?;
    if &eh[..4] != b"\x7fELF" || eh[4] != 2 {
        return None;
    }
    let pie = u16_at(&eh, 0x10)? == 3;
    let shoff = u64_at(&eh, 0x28)?;
    let shentsize = usize::from(u16_at(&eh, 0x3a)?);
    let shnum = usize::from(u16_at(&eh, 0x3c)?);
    if shentsize < 64 || shnum == 0 {
        return None;
    }
    let sh = read_at(&f, shoff, shentsize * shnum)?;
    let section = |i: usize| -> Option<(u32, u64, u64, u32)> {
        let o = i * shentsize;
        Some((
            u32_at(&sh, o + 4)?,
            u64_at(&sh, o + 0x18)?,
            u64_at(&sh, o + 0x20)?,
            u32_at(&sh, o + 0x28)?,
        ))
    };
    const SHT_SYMTAB: u32 = 2;
    const SHT_DYNSYM: u32 = 11;
    for i in 0..shnum {
        let (ty, off, size, link) = section(i)?;
        if ty != SHT_SYMTAB && ty != SHT_DYNSYM {
            continue;
        }
        let (_, str_off, str_size, _) = section(link as usize)?;
        let strtab = read_at(&f, str_off, str_size as usize)?;
        let syms = read_at(&f, off, size as usize)?;
        for s in syms.chunks_exact(24) {
            let st_name = u32_at(s, 0)? as usize;
            let st_info = s[4];
            let shndx = u16_at(s, 6)?;
            const STT_FUNC: u8 = 2;
            if shndx == 0 || st_info & 0xf != STT_FUNC {
                continue;
            }
            let Some(rest) = strtab.get(st_name..) else {
                continue;
            };
            let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
            if &rest[..end] == name.as_bytes() {
                return Some((u64_at(s, 8)?, pie));
            }
        }
    }
    None
}

/// The load address of the executable: where its program headers are
/// mapped (`AT_PHDR`) less their address in the file's layout.
fn load_base() -> Option<usize> {
    // SAFETY: getauxval reads the process's auxiliary vector.
    let at_phdr = unsafe { libc::getauxval(libc::AT_PHDR) } as usize;
    if at_phdr == 0 {
        return None;
    }
    let f = std::fs::File::open("/proc/self/exe").ok()?;
    let eh = read_at(&f, 0, 64)?;
    let phoff = u64_at(&eh, 0x20)?;
    let phentsize = usize::from(u16_at(&eh, 0x36)?);
    let phnum = usize::from(u16_at(&eh, 0x38)?);
    let ph = read_at(&f, phoff, phentsize * phnum)?;
    const PT_PHDR: u32 = 6;
    for i in 0..phnum {
        let o = i * phentsize;
        if u32_at(&ph, o)? == PT_PHDR {
            return at_phdr.checked_sub(u64_at(&ph, o + 0x10)? as usize);
        }
    }
    at_phdr.checked_sub(phoff as usize)
}
