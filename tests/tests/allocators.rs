//! Transparency with other allocators: programs built on jemalloc, tcmalloc
//! or mimalloc (linked, or preloaded before or after libpush.so) behave as
//! they do natively. The runtime allocates nothing through the program's
//! allocator (its hooks run inside that allocator's own mutex calls), and
//! its `free` forwards to the allocator that gave the memory, even for
//! frees made by constructors that run before the runtime's.
//!
//! The libraries come from Debian packages (scripts/test.sh installs them
//! when it can); a missing one is a recorded skip.

use push_tests::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const LIBDIR: &str = "/usr/lib/x86_64-linux-gnu";
const ALLOCATORS: &[&str] = &[
    "libjemalloc.so.2",
    "libtcmalloc_minimal.so.4",
    "libmimalloc.so.2",
];

fn allocator(name: &str) -> Option<PathBuf> {
    let p = Path::new(LIBDIR).join(name);
    if p.is_file() {
        Some(p)
    } else {
        record_skip(&format!("{name} is not installed (Debian package missing)"));
        None
    }
}

/// tests/c/alloc_churn_barrier.c linked with `lib`.
fn churn_linked_with(lib: &Path) -> PathBuf {
    let dir = scratch_dir("alloc-linked");
    let bin = dir.join("churn");
    let out = Command::new("gcc")
        .args(CFLAGS)
        .arg(format!("-I{}", include_dir().display()))
        .arg("-o")
        .arg(&bin)
        .arg(c_source("alloc_churn_barrier"))
        .arg(lib)
        .output()
        .expect("gcc");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    bin
}

const CHURN_OUT: &str = "count=2400\n";

#[test]
fn programs_linked_with_another_allocator_finish() {
    require_pku!();
    for name in ALLOCATORS {
        let Some(lib) = allocator(name) else { continue };
        let bin = churn_linked_with(&lib);
        let native = run_native(&bin);
        assert_exit_code(&native, 0);
        assert_stdout(&native, CHURN_OUT);
        for mode in MODES {
            let r = run_mode(mode, &bin);
            assert!(!r.timed_out, "{name}: deadlock\n{r}");
            assert_clean(&r);
            assert_stdout(&r, CHURN_OUT);
        }
    }
}

#[test]
fn another_allocator_preloaded_before_or_after_the_runtime() {
    require_pku!();
    let churn = compile_c("alloc_churn_barrier");
    let ls = Path::new("/bin/ls");
    let native_ls = run_native_args(ls, &["/"]);
    assert_exit_code(&native_ls, 0);
    let lib = libpush_path();
    for name in ALLOCATORS {
        let Some(alloc) = allocator(name) else {
            continue;
        };
        // The other allocator first, libpush.so second, and the reverse.
        for order in [
            format!("{} {}", alloc.display(), lib.display()),
            format!("{} {}", lib.display(), alloc.display()),
        ] {
            for (bin, args, out) in [
                (ls, &["/"][..], native_ls.stdout.as_str()),
                (churn.as_path(), &[][..], CHURN_OUT),
            ] {
                let mut cmd = Command::new(bin);
                cmd.args(args)
                    .env("LD_PRELOAD", &order)
                    .env("PUSH_OPTIONS", format!("backend={}", test_backend().name()));
                let r = run_with_timeout(cmd, scaled(DEFAULT_TIMEOUT));
                assert!(!r.timed_out, "LD_PRELOAD='{order}': deadlock\n{r}");
                assert_clean(&r);
                assert_eq!(r.stdout, out, "LD_PRELOAD='{order}'\n{r}");
                assert!(!r.stderr.contains("invalid pointer"), "{r}");
            }
        }
        // `push run` puts libpush.so first, before the user's preload.
        let mut cmd = Command::new(push_cli_path());
        cmd.args(["run", "--backend", test_backend().name(), "--"])
            .arg(&churn)
            .env("LD_PRELOAD", &alloc);
        let r = run_with_timeout(cmd, scaled(Duration::from_secs(60)));
        assert_clean(&r);
        assert_stdout(&r, CHURN_OUT);
    }
}
