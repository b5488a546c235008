//! Which faulting instructions are atomic read-modify-writes: a `lock`
//! prefix, or `xchg` with a memory operand (always locked). Two accesses
//! of which one is atomic are not reported as a race by the
//! annotation-free mode: C11 atomics never race with each other, and x86
//! compiles their read-modify-writes (and sequentially consistent stores)
//! to exactly these. Plain loads and stores of atomics (`mov`) cannot be
//! told from other accesses.

/// Legacy prefixes that may precede the opcode (lock: 0xF0).
const PREFIXES: [u8; 11] = [
    0xF0, 0xF2, 0xF3, 0x2E, 0x36, 0x3E, 0x26, 0x64, 0x65, 0x66, 0x67,
];

/// Whether the instruction starting at `code[0]` is an atomic
/// read-modify-write of memory. `code` holds up to 15 bytes of it.
pub fn is_atomic_rmw(code: &[u8]) -> bool {
    let mut i = 0;
    while i < code.len() && i < 15 {
        let b = code[i];
        if b == 0xF0 {
            return true;
        }
        if PREFIXES.contains(&b) {
            i += 1;
            continue;
        }
        if (0x40..=0x4F).contains(&b) {
            // REX: the opcode follows.
            i += 1;
            continue;
        }
        // xchg r/m, r (the fault says the operand is memory).
        return b == 0x86 || b == 0x87;
    }
    false
}

/// Reads the instruction at `pc` and tells whether it is atomic
/// (see [`is_atomic_rmw`]). Async-signal-safe.
pub fn atomic_at(pc: usize) -> bool {
    let mut code = [0u8; 15];
    let n = crate::sys::read_own_memory(pc, &mut code);
    n > 0 && is_atomic_rmw(&code[..n])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locked_and_xchg_instructions_are_atomic() {
        // lock add qword [rdi+8], 1
        assert!(is_atomic_rmw(&[0xF0, 0x48, 0x83, 0x47, 0x08, 0x01]));
        // lock xadd [rdi], eax
        assert!(is_atomic_rmw(&[0xF0, 0x0F, 0xC1, 0x07]));
        // lock cmpxchg with an operand-size prefix first
        assert!(is_atomic_rmw(&[0x66, 0xF0, 0x0F, 0xB1, 0x0F]));
        // xchg [rdi], rax (REX.W)
        assert!(is_atomic_rmw(&[0x48, 0x87, 0x07]));
        // xchg [rdi], al
        assert!(is_atomic_rmw(&[0x86, 0x07]));
        // fs-prefixed lock inc
        assert!(is_atomic_rmw(&[0x64, 0xF0, 0xFF, 0x00]));
    }

    #[test]
    fn plain_accesses_are_not() {
        // mov [rdi+8], rax
        assert!(!is_atomic_rmw(&[0x48, 0x89, 0x47, 0x08]));
        // add qword [rdi], 1 (no lock)
        assert!(!is_atomic_rmw(&[0x48, 0x83, 0x07, 0x01]));
        // mov eax, [rdi]
        assert!(!is_atomic_rmw(&[0x8B, 0x07]));
        // rep movsb
        assert!(!is_atomic_rmw(&[0xF3, 0xA4]));
        assert!(!is_atomic_rmw(&[]));
    }
}
