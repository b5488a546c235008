//! Compiling the C test programs of `tests/c` with gcc (and the C++ ones,
//! `*.cpp`, with g++).

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};
use std::time::SystemTime;

use crate::paths::{c_dir, c_source, include_dir, target_dir, unique_suffix};

/// Flags every C test program is compiled with (plus `-I<include_dir>`);
/// C++ programs (`.cpp`, auto mode's) get them too, with [`CXXFLAGS`].
pub const CFLAGS: &[&str] = &[
    "-g",
    "-O1",
    "-fno-omit-frame-pointer",
    "-pthread",
    "-Wall",
    "-Wextra",
];

/// What a C++ program (`tests/c/*.cpp`, compiled with g++) gets on top of
/// [`CFLAGS`].
pub const CXXFLAGS: &[&str] = &["-std=c++17"];

fn mtime(path: &Path) -> Option<SystemTime> {
    fs::metadata(path).and_then(|m| m.modified()).ok()
}

fn is_up_to_date(out: &Path, inputs: &[PathBuf]) -> bool {
    let Some(built) = mtime(out) else {
        return false;
    };
    inputs.iter().all(|input| match mtime(input) {
        Some(t) => t <= built,
        None => true,
    })
}

/// Compiles `tests/c/<name>.c` (with gcc) or `tests/c/<name>.cpp` (with
/// g++ and [`CXXFLAGS`]) into `target/c-tests/<name>/<name>` and returns the
/// binary. Safe when tests run in parallel, in one process or in several:
/// each compilation writes a private file and renames it into place. A
/// binary newer than its inputs (the source, the headers of `tests/c`,
/// `push.h`) is reused.
pub fn compile_c(name: &str) -> PathBuf {
    static BUILT: OnceLock<Mutex<HashMap<String, PathBuf>>> = OnceLock::new();
    let src = c_source(name);
    let stem = src
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_else(|| panic!("bad C program name {name:?}"))
        .to_string();

    let built = BUILT.get_or_init(|| Mutex::new(HashMap::new()));
    // One compilation at a time per process: the machine has few cores.
    let mut built = built.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(bin) = built.get(&stem) {
        return bin.clone();
    }

    assert!(src.is_file(), "C test program {} not found", src.display());
    let include = include_dir();
    let header = include.join("push.h");
    assert!(
        header.is_file(),
        "{} not found (the C API header)",
        header.display()
    );
    let out_dir = target_dir().join("c-tests").join(&stem);
    fs::create_dir_all(&out_dir)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", out_dir.display()));
    let bin = out_dir.join(&stem);
    let mut inputs = vec![src.clone(), header];
    inputs.extend(c_headers());
    let cxx = src.extension().is_some_and(|e| e == "cpp");

    if !is_up_to_date(&bin, &inputs) {
        let tmp = out_dir.join(format!(".{stem}.tmp-{}", unique_suffix()));
        let compiler = if cxx { "g++" } else { "gcc" };
        let mut cmd = Command::new(compiler);
        cmd.args(CFLAGS);
        if cxx {
            cmd.args(CXXFLAGS);
        }
        cmd.arg(format!("-I{}", include.display()))
            .arg("-o")
            .arg(&tmp)
            .arg(&src);
        let out = cmd
            .output()
            .unwrap_or_else(|e| panic!("cannot run {compiler} (is it installed?): {e}"));
        if !out.status.success() {
            let _ = fs::remove_file(&tmp);
            panic!(
                "compiling {} failed ({}):\n{}{}",
                src.display(),
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        fs::rename(&tmp, &bin)
            .unwrap_or_else(|e| panic!("cannot move {} to {}: {e}", tmp.display(), bin.display()));
    }
    built.insert(stem, bin.clone());
    bin
}

/// Whether g++ runs here (the C++ programs need it; scripts/test.sh
/// installs it when it can). Tests of a C++ program record a skip without.
pub fn cxx_available() -> bool {
    static HAVE: OnceLock<bool> = OnceLock::new();
    *HAVE.get_or_init(|| {
        Command::new("g++")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

/// The headers of `tests/c` (`common.h`, `auto_common.h`): a program is
/// rebuilt when one of them changed.
fn c_headers() -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(c_dir()) else {
        return Vec::new();
    };
    entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "h"))
        .collect()
}
