//! Programs LD_PRELOAD cannot bring the runtime into, known from the
//! file: static, setuid or 32-bit executables.

use std::path::PathBuf;

/// Why LD_PRELOAD cannot bring the runtime into `program`, when it is plain
/// from the file: a static, setuid or 32-bit executable.
pub(crate) fn unwatchable(program: &str) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let path = find_program(program)?;
    let meta = std::fs::metadata(&path).ok()?;
    let mut head = Vec::with_capacity(64 * 1024);
    std::io::Read::read_to_end(
        &mut std::io::Read::take(std::fs::File::open(&path).ok()?, 64 * 1024),
        &mut head,
    )
    .ok()?;
    let kind = elf_kind(&head)?;
    if meta.mode() & 0o4000 != 0 && meta.uid() != current_euid() {
        return Some(format!(
            "'{program}' is set-user-ID: the loader ignores LD_PRELOAD for it, so PUSh cannot watch it"
        ));
    }
    match kind {
        ElfKind::Elf32 => Some(format!(
            "'{program}' is a 32-bit program: PUSh checks only x86-64 programs"
        )),
        ElfKind::Static => Some(format!(
            "'{program}' is statically linked: LD_PRELOAD cannot load PUSh into it"
        )),
        ElfKind::Dynamic => None,
    }
}

/// This process's effective user id: /proc/self belongs to it.
fn current_euid() -> u32 {
    std::fs::metadata("/proc/self").map_or(0, |m| {
        use std::os::unix::fs::MetadataExt;
        m.uid()
    })
}

/// The file `program` names, searched in PATH like execvp does.
fn find_program(program: &str) -> Option<PathBuf> {
    if program.contains('/') {
        return Some(PathBuf::from(program));
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

#[derive(Debug, PartialEq, Eq)]
enum ElfKind {
    Dynamic,
    Static,
    Elf32,
}

/// What an executable is, from its ELF header and program headers; `None`
/// when it is not ELF (a script: its interpreter is what runs).
fn elf_kind(b: &[u8]) -> Option<ElfKind> {
    if b.len() < 64 || &b[..4] != b"\x7fELF" {
        return None;
    }
    if b[4] == 1 {
        return Some(ElfKind::Elf32);
    }
    let u16_at = |o: usize| Some(u16::from_le_bytes(b.get(o..o + 2)?.try_into().ok()?));
    let u64_at = |o: usize| Some(u64::from_le_bytes(b.get(o..o + 8)?.try_into().ok()?));
    let phoff = usize::try_from(u64_at(0x20)?).ok()?;
    let phentsize = usize::from(u16_at(0x36)?);
    let phnum = usize::from(u16_at(0x38)?);
    const PT_INTERP: u32 = 3;
    let has_interp = (0..phnum).any(|i| {
        let o = phoff + i * phentsize;
        b.get(o..o + 4)
            .and_then(|t| t.try_into().ok())
            .map(u32::from_le_bytes)
            == Some(PT_INTERP)
    });
    Some(if has_interp {
        ElfKind::Dynamic
    } else {
        ElfKind::Static
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 64-byte ELF header of `class` (1: 32-bit, 2: 64-bit) with one
    /// program header of type `ptype` right after it.
    fn elf(class: u8, ptype: u32) -> Vec<u8> {
        let mut b = vec![0u8; 64 + 56];
        b[..4].copy_from_slice(b"\x7fELF");
        b[4] = class;
        b[0x20..0x28].copy_from_slice(&64u64.to_le_bytes());
        b[0x36..0x38].copy_from_slice(&56u16.to_le_bytes());
        b[0x38..0x3a].copy_from_slice(&1u16.to_le_bytes());
        b[64..68].copy_from_slice(&ptype.to_le_bytes());
        b
    }

    #[test]
    fn programs_that_cannot_be_watched_are_recognized() {
        assert_eq!(elf_kind(&elf(2, 3)), Some(ElfKind::Dynamic));
        assert_eq!(elf_kind(&elf(2, 1)), Some(ElfKind::Static));
        assert_eq!(elf_kind(&elf(1, 3)), Some(ElfKind::Elf32));
        assert_eq!(elf_kind(b"#!/bin/sh\necho hi\n"), None);
        assert_eq!(elf_kind(&[]), None);
    }

    #[test]
    fn this_test_binary_is_a_dynamic_x86_64_program() {
        let me = std::env::current_exe().unwrap();
        assert_eq!(
            unwatchable(me.to_str().unwrap()),
            None,
            "a normal dynamic executable can be watched"
        );
        let msg = unwatchable("/bin/sh");
        assert_eq!(msg, None, "{msg:?}");
    }
}
