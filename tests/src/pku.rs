//! Protection keys and backends: whether the CPU has PKU, which backend
//! the suite runs the runtime with, and skipping (never silently) what
//! cannot run here: [`record_skip`], `require_pku!`, `mpk_only!`.

use std::fs;
use std::thread;

use crate::paths::target_dir;

/// Whether the CPU and the kernel support protection keys: the `pku` and
/// `ospke` flags of `/proc/cpuinfo`.
pub fn pku_available() -> bool {
    if std::env::var_os("PUSH_SIMULATE_NO_PKU").is_some_and(|v| v == "1") {
        return false;
    }
    let Ok(cpuinfo) = fs::read_to_string("/proc/cpuinfo") else {
        return false;
    };
    cpuinfo.lines().filter(|l| l.starts_with("flags")).any(|l| {
        let flags: Vec<&str> = l.split_whitespace().collect();
        flags.contains(&"pku") && flags.contains(&"ospke")
    })
}

/// Whether `PUSH_REQUIRE_PKU=1`: missing PKU then fails instead of skipping.
pub fn pku_required() -> bool {
    std::env::var("PUSH_REQUIRE_PKU").is_ok_and(|v| v == "1")
}

/// Whether the suite runs inside the QEMU guest of scripts/pku-vm.sh
/// (an emulated CPU: WRPKRU and faults cost 100x more): time-heavy
/// programs then run with smaller inputs.
pub fn under_emulation() -> bool {
    std::env::var_os("PUSH_PKU_VM").is_some_and(|v| v == "1")
}

/// The enforcement backend the suite runs the runtime with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Mpk,
    Mprotect,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Mpk => "mpk",
            Backend::Mprotect => "mprotect",
        }
    }
}

/// `PUSH_TEST_BACKEND=mpk|mprotect` (scripts/test.sh runs the suite once per
/// backend); unset or `auto`: `mpk` where the CPU has PKU, else `mprotect`.
pub fn test_backend() -> Backend {
    match std::env::var("PUSH_TEST_BACKEND").as_deref() {
        Ok("mpk") => Backend::Mpk,
        Ok("mprotect") => Backend::Mprotect,
        Ok("") | Ok("auto") | Err(_) => {
            if pku_available() {
                Backend::Mpk
            } else {
                Backend::Mprotect
            }
        }
        Ok(other) => panic!("PUSH_TEST_BACKEND={other}: expected mpk, mprotect or auto"),
    }
}

/// Records that the calling test skipped its check, and why: one line
/// in `target/test-skips/<backend>.log` (scripts/test.sh counts them and
/// prints the reasons) and one on stderr. A skipped check is never silent.
pub fn record_skip(reason: &str) {
    let name = thread::current()
        .name()
        .unwrap_or("unnamed test")
        .to_string();
    let exe = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .map(|s| s.rsplit_once('-').map_or(s.clone(), |(a, _)| a.to_string()))
        .unwrap_or_default();
    eprintln!("SKIPPED {exe}::{name}: {reason}");
    let dir = target_dir().join("test-skips");
    let _ = fs::create_dir_all(&dir);
    if let Ok(mut f) = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(format!("{}.log", test_backend().name())))
    {
        use std::io::Write;
        let _ = writeln!(f, "{exe}::{name}\t{reason}");
    }
}

/// At the top of a test that runs programs under the runtime: under the
/// `mpk` backend on a machine without PKU, records a skip and returns
/// (`require_pku!(value)` returns `value`), or panics with
/// `PUSH_REQUIRE_PKU=1`. Under `mprotect` the test runs everywhere.
#[macro_export]
macro_rules! require_pku {
    () => {
        $crate::require_pku!(())
    };
    ($ret:expr) => {
        if $crate::test_backend() == $crate::Backend::Mpk && !$crate::pku_available() {
            if $crate::pku_required() {
                panic!("PUSH_REQUIRE_PKU=1 but this CPU/kernel has no PKU (pku/ospke flags)");
            }
            $crate::record_skip("backend mpk needs a CPU/kernel with PKU");
            return $ret;
        }
    };
}

/// At the top of a test about protection-key mechanics only (WRPKRU
/// counts, silent PKRU fixes, validation-fault counts, key rehashing):
/// under another backend, records a skip with `reason` and returns.
#[macro_export]
macro_rules! mpk_only {
    ($reason:expr) => {
        $crate::mpk_only!($reason, ())
    };
    ($reason:expr, $ret:expr) => {
        $crate::require_pku!($ret);
        if $crate::test_backend() != $crate::Backend::Mpk {
            $crate::record_skip(concat!("mpk mechanics only: ", $reason));
            return $ret;
        }
    };
}
