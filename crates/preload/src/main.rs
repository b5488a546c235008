//! The `push` command: run a program under PUSh, or check the machine.
//!
//! `push run [FLAGS] -- PROGRAM ARGS...` validates the settings (flags on top
//! of `PUSH_OPTIONS`), checks that the chosen backend can run here, and runs
//! PROGRAM with libpush.so preloaded. Exit status: the program's own when
//! nothing was reported, `exitcode` (66) when something was, 128+N when it
//! died of signal N, 2 for bad settings or `backend=mpk` without PKU.
#![forbid(unsafe_code)]

use clap::{Parser, Subcommand};
use push_rt::options::{self, Options};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Command, ExitCode};

#[derive(Parser)]
#[command(
    name = "push",
    version,
    about = "PUSh: find data races by preventing unintended sharing"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

// Parsed once per run; the size difference between variants does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Cmd {
    /// Run a program under PUSh.
    Run {
        /// Enforcement backend: auto, mpk (protection keys) or mprotect (portable).
        #[arg(long, value_name = "auto|mpk|mprotect")]
        backend: Option<String>,
        /// Stop at the first report (0|1).
        #[arg(long, value_name = "0|1")]
        halt_on_error: Option<String>,
        /// Exit status when something was reported.
        #[arg(long, value_name = "N")]
        exitcode: Option<String>,
        /// Write reports to PATH.<pid> instead of stderr.
        #[arg(long, value_name = "PATH")]
        log_path: Option<String>,
        /// text or json.
        #[arg(long, value_name = "FORMAT")]
        report_format: Option<String>,
        /// Suppressions file.
        #[arg(long, value_name = "FILE")]
        suppressions: Option<String>,
        /// Re-draw the owner->key map every N ms (0 = never).
        #[arg(long, value_name = "N")]
        rehash_ms: Option<String>,
        /// Seed of the owner->key map (0 = random).
        #[arg(long, value_name = "N")]
        seed: Option<String>,
        /// Print runtime statistics at exit (0|1).
        #[arg(long, value_name = "0|1")]
        verbose: Option<String>,
        /// Validate policy changes with happens-before (0|1).
        #[arg(long, value_name = "0|1")]
        hb: Option<String>,
        /// Plan for at most N memory mappings (0 = vm.max_map_count).
        #[arg(long, value_name = "N")]
        max_maps: Option<String>,
        /// The program and its arguments.
        #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
        program: Vec<String>,
    },
    /// Check protection-key support and the runtime's environment.
    Doctor,
    /// List the runtime options (PUSH_OPTIONS and the run flags).
    Options,
}

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
    let cli = Cli::parse();
    match cli.command {
        Cmd::Doctor => doctor(),
        Cmd::Options => {
            print!("{}", options::help());
            ExitCode::SUCCESS
        }
        Cmd::Run {
            backend,
            halt_on_error,
            exitcode,
            log_path,
            report_format,
            suppressions,
            rehash_ms,
            seed,
            verbose,
            hb,
            max_maps,
            program,
        } => {
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
            let flags = [
                ("backend", backend),
                ("halt_on_error", halt_on_error),
                ("exitcode", exitcode),
                ("log_path", log_path),
                ("report_format", report_format),
                ("suppressions", suppressions),
                ("rehash_ms", rehash_ms),
                ("seed", seed),
                ("verbose", verbose),
                ("hb", hb),
                ("max_maps", max_maps),
            ];
            for (name, value) in flags {
                if let Some(v) = value {
                    if let Err(e) = opts.set(name, &v) {
                        return fail(&format!("--{}: {e}", name.replace('_', "-")));
                    }
                }
            }
            if let Some(s) = &opts.suppressions {
                if let Err(e) = std::fs::read_to_string(s) {
                    return fail(&format!("cannot read suppressions file '{s}': {e}"));
                }
            }
            run(&opts, &program)
        }
    }
}

fn run(opts: &Options, program: &[String]) -> ExitCode {
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
        return fail("cannot find libpush.so next to the push binary (build it with `cargo build --release`, or set PUSH_LIB)");
    };
    let mut preload = lib.display().to_string();
    if let Ok(old) = std::env::var("LD_PRELOAD") {
        if !old.is_empty() {
            preload = format!("{preload}:{old}");
        }
    }
    let mut cmd = Command::new(&program[0]);
    cmd.args(&program[1..])
        .env("LD_PRELOAD", preload)
        .env("PUSH_OPTIONS", opts.to_spec());
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
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
        let err = Command::new(waiter).arg(child.id().to_string()).exec();
        eprintln!("push: cannot exec push-wait ({err}); waiting here");
    }
    let status = match child.wait() {
        Ok(s) => s,
        Err(e) => return fail(&format!("lost track of the program: {e}")),
    };
    if let Some(code) = status.code() {
        return ExitCode::from(code as u8);
    }
    if let Some(sig) = status.signal() {
        return ExitCode::from((128 + sig) as u8);
    }
    ExitCode::FAILURE
}

/// A file next to the `push` binary.
fn sibling(name: &str) -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let p = exe.parent()?.join(name);
    p.exists().then_some(p)
}

fn doctor() -> ExitCode {
    let p = x86_check::probe();
    let yes = |b: bool| if b { "yes" } else { "no" };
    println!("PUSh doctor");
    println!("  cpu:                  {}", p.cpu_model);
    println!("  kernel:               {}", p.kernel);
    println!("  CPU has PKU:          {}", yes(p.cpu_pku));
    println!("  OS enabled PKU:       {}", yes(p.os_pke));
    match p.allocatable_keys {
        Ok(n) => {
            println!("  free protection keys: {n} (PUSh reserves 4, hashes owners over the rest)")
        }
        Err(38) => println!(
            "  free protection keys: none (pkey_alloc: ENOSYS, the kernel or CPU offers no protection keys)"
        ),
        Err(e) => println!("  free protection keys: none (pkey_alloc errno {e})"),
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
            "  libpush.so:           not found next to this binary (cargo build --release)"
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
