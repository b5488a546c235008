//! `push run`: checks that the chosen backend can run here and runs the
//! program with libpush.so preloaded; its exit status.

use super::run_dir::{make_run_dir, prepare_run_dir};
use super::unwatchable::unwatchable;
use crate::{fail, libpush_path, sibling};
use push_rt::options::{self, Options};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Command, ExitCode};

pub(crate) fn run(opts: &Options, program: &[String]) -> ExitCode {
    let probe = x86_check::probe();
    if opts.backend == options::BackendChoice::Mpk && !probe.usable() {
        let mut msg = String::from(
            "backend=mpk needs protection keys, which this machine cannot use \
             (use --backend mprotect or auto for the portable mode):",
        );
        for r in probe.remedies() {
            msg.push_str("\n  - ");
            msg.push_str(&r);
        }
        return fail(&msg);
    }
    let Some(lib) = libpush_path() else {
        return fail("cannot find libpush.so (looked at $PUSH_LIB, next to the push binary and in ../lib from it): build it with `cargo build --release`, install with scripts/install.sh, or set PUSH_LIB");
    };
    let mut preload = lib.display().to_string();
    if let Ok(old) = std::env::var("LD_PRELOAD") {
        if !old.is_empty() {
            preload = format!("{preload}:{old}");
        }
    }
    let told = match unwatchable(&program[0]) {
        Some(why) => {
            eprintln!("push: {why}; it runs unchecked");
            "told"
        }
        None => "check",
    };
    let keep = opts.run_dir.is_some();
    let run_dir = match &opts.run_dir {
        Some(d) => match prepare_run_dir(std::path::Path::new(d)) {
            Ok(()) => Some(PathBuf::from(d)),
            Err(e) => return fail(&format!("run_dir '{d}': {e}")),
        },
        None => make_run_dir(),
    };
    if let Some(d) = &run_dir {
        let _ = std::fs::write(d.join("options"), opts.to_spec());
    }
    // Orphans of the program (a daemon a test started, a pipeline's
    // stages) become this process's children: push-wait can end them.
    push_rt::sys::set_child_subreaper();
    push_rt::sys::block_forwarded_signals(true);
    let mut cmd = Command::new(&program[0]);
    cmd.args(&program[1..])
        .env("LD_PRELOAD", preload)
        .env("PUSH_OPTIONS", opts.to_spec());
    if let Some(d) = &run_dir {
        cmd.env(push_rt::run_dir::ENV, d);
    }
    push_rt::sys::unblock_forwarded_signals_in_child(&mut cmd);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            push_rt::sys::block_forwarded_signals(false);
            if let Some(d) = &run_dir {
                let _ = std::fs::remove_dir_all(d);
            }
            eprintln!("push: cannot run '{}': {e}", program[0]);
            return ExitCode::from(if e.kind() == std::io::ErrorKind::NotFound {
                127
            } else {
                126
            });
        }
    };
    // Become the small waiter: this process's pages would otherwise count
    // against the program's memory for as long as it runs.
    if let Some(waiter) = sibling("push-wait") {
        let mut wait = Command::new(waiter);
        wait.arg(child.id().to_string());
        if let Some(d) = &run_dir {
            wait.arg(d)
                .arg(&program[0])
                .arg(told)
                .arg(if keep { "keep" } else { "remove" });
        }
        let err = wait.exec();
        eprintln!("push: cannot exec push-wait ({err}); waiting here");
    }
    push_rt::sys::block_forwarded_signals(false);
    let status = match child.wait() {
        Ok(s) => s,
        Err(e) => return fail(&format!("lost track of the program: {e}")),
    };
    let code = match (status.code(), status.signal()) {
        (Some(c), _) => c,
        (None, Some(sig)) => 128 + sig,
        _ => 1,
    };
    if let Some(d) = &run_dir {
        let end =
            push_rt::run_dir::end_of_run(d, opts, &program[0], told == "told", code, child.id());
        eprint!("{}", end.text);
        if !keep {
            let _ = std::fs::remove_dir_all(d);
        }
        return ExitCode::from(end.exit_code as u8);
    }
    ExitCode::from(code as u8)
}
