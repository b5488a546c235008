//! `push`'s command line: the subcommands and `push run`'s flags, built
//! from the runtime's option table; one submodule per subcommand.

pub(crate) mod doctor;
pub(crate) mod report;
pub(crate) mod run;
mod run_dir;
mod unwatchable;

use clap::{Arg, ArgAction, Command as Cli};
use push_rt::options::OPTIONS;

/// The command line. `push run`'s flags come from the runtime's option table,
/// so they, `push options` and docs/options.md always agree.
pub(crate) fn cli() -> Cli {
    let mut run = Cli::new("run")
        .about("Run a program under PUSh")
        .after_help(
            "Every flag is also a PUSH_OPTIONS setting (name=value[:name=value...]); flags win.\n\
             Exit status: the program's own when nothing was reported, EXITCODE (66) when \
             anything was, 128+N when the program died of signal N, 2 for bad flags.\n\
             Example: push run --halt-on-error 1 -- ./app arg1",
        );
    for o in OPTIONS {
        run = run.arg(
            if o.value == "0|1" {
                // `--auto` alone means `--auto 1`.
                Arg::new(o.name).num_args(0..=1).default_missing_value("1")
            } else {
                Arg::new(o.name)
            }
            .long(o.name.replace('_', "-"))
            .value_name(o.value)
            .help(format!("{} [default: {}]", o.help, o.default)),
        );
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
