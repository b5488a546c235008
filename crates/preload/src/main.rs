//! The `push` command: run a program under PUSh, or check the machine.
//!
//! `push run [FLAGS] -- PROGRAM ARGS...` validates the settings (flags on top
//! of `PUSH_OPTIONS`), checks that the chosen backend can run here, and runs
//! PROGRAM with libpush.so preloaded. Exit status: the program's own when
//! nothing was reported, `exitcode` (66) when something was, 128+N when it
//! died of signal N, 2 for bad settings or `backend=mpk` without PKU.
//!
//! This file holds the dispatch; the command line and one module per
//! subcommand (`run`, `report`, `doctor`) are in `cli`.
#![forbid(unsafe_code)]

mod cli;

use cli::{cli, doctor::doctor, report::report, run::run};

use push_rt::options::{self, Options, OPTIONS};
use std::path::PathBuf;
use std::process::ExitCode;

fn libpush_path() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("PUSH_LIB") {
        return Some(PathBuf::from(p));
    }
    sibling("libpush.so")
        .or_else(|| sibling("../lib/libpush.so"))
        .and_then(|p| p.canonicalize().ok())
}

fn fail(msg: &str) -> ExitCode {
    eprintln!("push: {msg}");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    push_rt::sys::default_sigpipe();
    let matches = cli().get_matches();
    match matches.subcommand() {
        Some(("doctor", _)) => doctor(),
        Some(("report", m)) => report(
            m.get_one::<String>("dir").expect("required"),
            m.get_one::<String>("format").expect("defaulted"),
        ),
        Some(("options", m)) => {
            if m.get_flag("markdown") {
                print!("{}", options::markdown_table());
            } else {
                print!("{}", options::help());
            }
            ExitCode::SUCCESS
        }
        Some(("run", m)) => {
            let program: Vec<String> = m
                .get_many::<String>("program")
                .map(|v| v.cloned().collect())
                .unwrap_or_default();
            if let Some(flag) = program.first().filter(|p| p.starts_with('-')) {
                return fail(&format!(
                    "unknown flag '{flag}' for push run (see push run --help); the program comes after the flags, e.g. push run --backend mprotect -- ./app"
                ));
            }
            let env_spec = std::env::var("PUSH_OPTIONS").unwrap_or_default();
            let mut opts = match Options::parse(&env_spec) {
                Ok(o) => o,
                Err(e) => return fail(&format!("error in PUSH_OPTIONS: {e}")),
            };
            for o in OPTIONS {
                if let Some(v) = m.get_one::<String>(o.name) {
                    if let Err(e) = opts.set(o.name, v) {
                        return fail(&format!("{}: {e}", options::flag_name(o.name)));
                    }
                }
            }
            if let Some(s) = &opts.suppressions {
                match std::fs::read_to_string(s) {
                    Err(e) => return fail(&format!("cannot read suppressions file '{s}': {e}")),
                    Ok(text) => {
                        if let Err(e) = push_rt::report::parse_suppressions(s, &text) {
                            return fail(&format!("bad suppressions file: {e}"));
                        }
                    }
                }
            }
            run(&opts, &program)
        }
        _ => unreachable!("clap requires a subcommand"),
    }
}

/// A file next to the `push` binary.
fn sibling(name: &str) -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let p = exe.parent()?.join(name);
    p.exists().then_some(p)
}
