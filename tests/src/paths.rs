//! Where things are: the repository, cargo's target directory, the built
//! runtime and CLI, the C programs and their header, scratch directories.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The root of the repository (the workspace).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// Cargo's target directory (`CARGO_TARGET_DIR` or `<root>/target`).
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => {
            let dir = PathBuf::from(dir);
            if dir.is_absolute() {
                dir
            } else {
                repo_root().join(dir)
            }
        }
        _ => repo_root().join("target"),
    }
}

fn release_artifact(name: &str) -> PathBuf {
    let path = target_dir().join("release").join(name);
    if !path.is_file() {
        panic!(
            "{} not found: run `cargo build --release` first",
            path.display()
        );
    }
    path
}

/// `target/release/libpush.so`; panics when it has not been built.
pub fn libpush_path() -> PathBuf {
    release_artifact("libpush.so")
}

/// `target/release/push` (the CLI); panics when it has not been built.
pub fn push_cli_path() -> PathBuf {
    release_artifact("push")
}

/// The directory of the C test programs (`tests/c`).
pub fn c_dir() -> PathBuf {
    repo_root().join("tests").join("c")
}

/// The source of a C or C++ test program: `name` with its extension
/// (`.c`, `.cpp`), or without it (`<name>.c`, else `<name>.cpp` when only
/// that exists), or a path.
pub fn c_source(name: &str) -> PathBuf {
    let p = Path::new(name);
    if p.is_absolute() {
        return p.to_path_buf();
    }
    if name.ends_with(".c") || name.ends_with(".cpp") {
        return c_dir().join(name);
    }
    let c = c_dir().join(format!("{name}.c"));
    let cpp = c_dir().join(format!("{name}.cpp"));
    if !c.exists() && cpp.exists() {
        cpp
    } else {
        c
    }
}

/// The directory with `push.h` (`<root>/include`, or `PUSH_INCLUDE_DIR`).
pub fn include_dir() -> PathBuf {
    match std::env::var_os("PUSH_INCLUDE_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => repo_root().join("include"),
    }
}

static UNIQUE: AtomicUsize = AtomicUsize::new(0);

/// A suffix unique to this process and call: `<pid>-<n>`.
pub(crate) fn unique_suffix() -> String {
    format!(
        "{}-{}",
        std::process::id(),
        UNIQUE.fetch_add(1, Ordering::Relaxed)
    )
}

/// A fresh, empty directory under `target/c-tests/tmp/` for one test.
pub fn scratch_dir(label: &str) -> PathBuf {
    let dir = target_dir()
        .join("c-tests")
        .join("tmp")
        .join(format!("{label}-{}", unique_suffix()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    dir
}
