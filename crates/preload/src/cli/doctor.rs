//! `push doctor`: protection-key support and the runtime's environment.

use crate::libpush_path;
use std::process::ExitCode;

pub(crate) fn doctor() -> ExitCode {
    let p = x86_check::probe();
    let yes = |b: bool| if b { "yes" } else { "no" };
    println!("PUSh doctor");
    println!("  cpu:                  {}", p.cpu_model);
    println!("  kernel:               {}", p.kernel);
    println!("  CPU has PKU:          {}", yes(p.cpu_pku));
    println!("  OS enabled PKU:       {}", yes(p.os_pke));
    match p.allocatable_keys {
        Ok(n) => {
            println!(
                "  free protection keys: {n} (PUSh reserves 4, hashes owners over the rest; a program \
                 that allocates keys itself gets them from PUSh's share, down to 2 domains, and \
                 its SUMMARY says how many)"
            )
        }
        Err(38) => println!(
            "  free protection keys: none (pkey_alloc: ENOSYS, the kernel or CPU offers no protection keys)"
        ),
        Err(libc::ENOSPC) => println!(
            "  free protection keys: none (pkey_alloc: ENOSPC, every key is already taken in this process)"
        ),
        Err(libc::EINVAL) => println!(
            "  free protection keys: none (pkey_alloc: EINVAL, the kernel refused the request: PKU is off or unsupported)"
        ),
        Err(e) => println!(
            "  free protection keys: none (pkey_alloc failed, errno {e}: {})",
            std::io::Error::from_raw_os_error(e)
        ),
    }
    match p.pkru_xsave {
        Some((off, size)) => println!("  PKRU in XSAVE:        offset {off}, {size} bytes"),
        None => println!("  PKRU in XSAVE:        not reported"),
    }
    match p.max_map_count {
        Some(n) => {
            let budget = push_rt::maps::soft_budget(n);
            println!("  vm.max_map_count:     {n}");
            println!(
                "  mapping budget:       {budget} (the rest is left to the program); tracked objects \
                 cost one mapping per run of neighbouring pages with one key: from about {budget} objects \
                 when every neighbour's key differs to far more when neighbours share keys; past it \
                 new objects are untracked (raise with sysctl vm.max_map_count=N, lower with max_maps=N)"
            );
        }
        None => println!("  vm.max_map_count:     unknown"),
    }
    match libpush_path() {
        Some(l) => println!("  libpush.so:           {}", l.display()),
        None => println!(
            "  libpush.so:           not found (looked at $PUSH_LIB, next to this binary and in ../lib; \
             build it with cargo build --release or install with scripts/install.sh)"
        ),
    }
    if p.usable() {
        println!(
            "  backend (auto):       mpk (protection keys: allowed accesses run at full speed; \
             each refused access costs one fault, about 10-15 us)"
        );
    } else {
        println!(
            "  backend (auto):       mprotect (portable: the first access to a tracked object after each \
             synchronization faults, about 5-15 us with its mprotect calls; lock-per-operation code \
             runs many times slower than under mpk; a race inside another thread's open window can \
             be missed that time)"
        );
    }
    let remedies = p.remedies();
    if remedies.is_empty() && p.usable() {
        println!("\nPUSh can run here: push run -- ./your-program");
        return ExitCode::SUCCESS;
    }
    println!(
        "\n{}:",
        if p.usable() {
            "Problems"
        } else {
            "Why protection keys cannot be used (backend=mpk refuses; auto uses mprotect)"
        }
    );
    for r in remedies {
        println!("  - {r}");
    }
    if p.usable() {
        ExitCode::from(1)
    } else {
        println!("\nPUSh can run here in the portable mode: push run -- ./your-program");
        ExitCode::SUCCESS
    }
}
