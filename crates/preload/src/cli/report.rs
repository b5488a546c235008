//! `push report DIR`: re-renders the reports a finished run collected.

use crate::fail;
use push_rt::options::{self, Options};
use std::process::ExitCode;

/// `push report DIR --format F`: the reports a finished run collected.
pub(crate) fn report(dir: &str, format: &str) -> ExitCode {
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
