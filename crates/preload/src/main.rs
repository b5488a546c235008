//! The `push` command: run a program under PUSh, or check the machine.
//!
//! `push run [FLAGS] -- PROGRAM ARGS...` validates the settings (flags on top
//! of `PUSH_OPTIONS`), checks that the chosen backend can run here, and runs
//! PROGRAM with libpush.so preloaded. Exit status: the program's own when
//! nothing was reported, `exitcode` (66) when something was, 128+N when it
//! died of signal N, 2 for bad settings or `backend=mpk` without PKU.
#![forbid(unsafe_code)]

use clap::{Arg, ArgAction, Command as Cli};
use push_rt::options::{self, Options, OPTIONS};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Command, ExitCode};

/// The command line. `push run`'s flags come from the runtime's option table,
/// so they, `push options` and docs/options.md always agree.
fn cli() -> Cli {
    let mut run = Cli::new("run")
        .about("Run a program under PUSh")
        .after_help(
            "Every flag is also a PUSH_OPTIONS setting (name=value[:name=value...]); flags win.\n\
             Exit status: the program's own when nothing was reported, EXITCODE (66) when \
             anything was, 128+N when the program died of signal N, 2 for bad flags.\n\
             Example: push run --halt-on-error 1 -- ./app arg1",
        );
    for o in OPTIONS {
        let mut arg = Arg::new(o.name)
            .long(o.name.replace('_', "-"))
            .value_name(o.value)
            .help(format!("{} [default: {}]", o.help, o.default));
        if o.value == "0|1" {
            // `--auto` alone means `--auto 1`.
            arg = arg.num_args(0..=1).default_missing_value("1");
        }
        run = run.arg(arg);
    }
    run = run.arg(
        Arg::new("program")
            .value_name("PROGRAM ARGS")
            .help("The program and its arguments (after --)")
            .required(true)
            .num_args(1..)
            .trailing_var_arg(true)
            .allow_hyphen_values(true),
    );
    Cli::new("push")
        .version(env!("CARGO_PKG_VERSION"))
        .about("PUSh: find data races by preventing unintended sharing")
        .subcommand_required(true)
        .arg_required_else_help(true)
        .subcommand(run)
        .subcommand(
            Cli::new("doctor").about("Check protection-key support and the runtime's environment"),
        )
        .subcommand(
            Cli::new("report")
                .about("Re-render the reports of a finished run (push run --run-dir DIR)")
                .arg(
                    Arg::new("dir")
                        .value_name("DIR")
                        .required(true)
                        .help("The run directory"),
                )
                .arg(
                    Arg::new("format")
                        .long("format")
                        .value_name("text|json|sarif")
                        .default_value("text")
                        .value_parser(["text", "json", "sarif"])
                        .help("text blocks, JSON lines, or one SARIF 2.1.0 log"),
                ),
        )
        .subcommand(
            Cli::new("options")
                .about("List the runtime options (PUSH_OPTIONS and the run flags)")
                .arg(
                    Arg::new("markdown")
                        .long("markdown")
                        .action(ArgAction::SetTrue)
                        .help("Print the table of docs/options.md"),
                ),
        )
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

/// The `run_dir` option's directory: created if missing, emptied of an
/// earlier run's files (process records, reports, suppressions, options).
fn prepare_run_dir(d: &std::path::Path) -> std::io::Result<()> {
    std::fs::create_dir_all(d)?;
    for e in std::fs::read_dir(d)?.flatten() {
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        let stem = name
            .strip_suffix(".reports")
            .or_else(|| name.strip_suffix(".supp"))
            .unwrap_or(name);
        let stem = stem.strip_prefix("unwatched.").unwrap_or(stem);
        if name == "options" || stem.parse::<u32>().is_ok() {
            std::fs::remove_file(e.path())?;
        }
    }
    Ok(())
}

/// `push report DIR --format F`: the reports a finished run collected.
fn report(dir: &str, format: &str) -> ExitCode {
    let d = std::path::Path::new(dir);
    if !d.is_dir() {
        return fail(&format!(
            "'{dir}' is not a directory (a run directory is kept with push run --run-dir DIR)"
        ));
    }
    let reports = push_rt::run_dir::read_reports(d);
    let mut out = String::new();
    match format {
        "json" => {
            for r in &reports {
                out.push_str(&format!("{r}\n"));
            }
        }
        "sarif" => {
            let cwd = std::env::current_dir()
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            let records = push_rt::run_dir::read_all(d);
            let checked = (!records.is_empty()).then(|| push_rt::run_dir::checked(&records));
            let doc =
                push_rt::report::render::sarif(&reports, &cwd, env!("CARGO_PKG_VERSION"), checked);
            out = format!("{doc:#}\n");
        }
        _ => {
            for r in &reports {
                out.push_str(&push_rt::report::render::text(r));
            }
            let spec = std::fs::read_to_string(d.join("options")).unwrap_or_default();
            let mut opts = Options::parse(spec.trim()).unwrap_or_default();
            opts.report_format = options::ReportFormat::Text;
            opts.print_suppressions = false;
            let end = push_rt::run_dir::end_of_run(d, &opts, "the program", true, 0, 0);
            out.push_str(&end.text);
        }
    }
    print!("{out}");
    ExitCode::SUCCESS
}

/// A fresh, private directory for the run's process records.
fn make_run_dir() -> Option<PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    let base = std::env::temp_dir();
    for attempt in 0..16u32 {
        let d = base.join(format!("push-run.{}.{attempt}", std::process::id()));
        if std::fs::DirBuilder::new().mode(0o700).create(&d).is_ok() {
            return Some(d);
        }
    }
    None
}

/// Why LD_PRELOAD cannot bring the runtime into `program`, when it is plain
/// from the file: a static, setuid or 32-bit executable.
fn unwatchable(program: &str) -> Option<String> {
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
