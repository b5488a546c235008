//! Run-time options, shared by the runtime (`PUSH_OPTIONS`) and the `push`
//! CLI (flags). One table, [`OPTIONS`], drives parsing and help text.
//!
//! Syntax: `name=value` pairs separated by `:` (or `,` or whitespace), e.g.
//! `PUSH_OPTIONS="halt_on_error=1:log_path=/tmp/push"`.
#![forbid(unsafe_code)]

/// The environment variable naming the run directory of `push run` (see
/// `run_dir`, which also exports it as `run_dir::ENV`); the report printer
/// reads it too.
pub const RUN_DIR_ENV: &str = "PUSH_RUN_DIR";

/// How reports are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportFormat {
    Text,
    Json,
    /// Text on the report stream, and one SARIF 2.1.0 log for the run.
    Sarif,
    /// Text, each report followed by a GitHub workflow annotation line.
    Github,
}

impl ReportFormat {
    pub fn name(self) -> &'static str {
        match self {
            ReportFormat::Text => "text",
            ReportFormat::Json => "json",
            ReportFormat::Sarif => "sarif",
            ReportFormat::Github => "github",
        }
    }
}

/// Which enforcement backend to use (see `backend`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendChoice {
    /// Protection keys where CPU and kernel support them, else `mprotect`.
    Auto,
    Mpk,
    Mprotect,
}

impl BackendChoice {
    pub fn name(self) -> &'static str {
        match self {
            BackendChoice::Auto => "auto",
            BackendChoice::Mpk => "mpk",
            BackendChoice::Mprotect => "mprotect",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    pub backend: BackendChoice,
    pub halt_on_error: bool,
    pub exitcode: i32,
    pub log_path: Option<String>,
    pub report_format: ReportFormat,
    pub suppressions: Option<String>,
    pub rehash_ms: u64,
    pub seed: u64,
    pub verbose: bool,
    /// Happens-before validation of policy changes.
    pub hb: bool,
    /// The process's memory-mapping limit PUSh plans for (0: `vm.max_map_count`).
    pub max_maps: u64,
    /// Print which suppressions matched, how often, and which never did.
    pub print_suppressions: bool,
    /// `push run`'s run directory, kept after the run (None: a temporary one).
    pub run_dir: Option<String>,
    /// The annotation-free mode: watch the program's heap objects.
    pub auto: bool,
    /// Under `auto`, the share of heap allocations watched, in millionths.
    pub sample_ppm: u32,
    /// Under `auto`, the percent of each thread's time its faults on
    /// watched objects may take (0: no bound).
    pub auto_budget: u32,
    /// Under `mprotect` without `auto`: the share of each thread's time
    /// that opening and closing tracked objects may take (0: no bound).
    pub mprotect_budget: u32,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            backend: BackendChoice::Auto,
            halt_on_error: false,
            exitcode: 66,
            log_path: None,
            report_format: ReportFormat::Text,
            suppressions: None,
            rehash_ms: 100,
            seed: 0,
            verbose: false,
            hb: true,
            max_maps: 0,
            print_suppressions: false,
            run_dir: None,
            auto: false,
            sample_ppm: 1_000_000,
            auto_budget: 10,
            mprotect_budget: 10,
        }
    }
}

/// One option: its name, the kind of value, and what it does.
pub struct OptionSpec {
    pub name: &'static str,
    pub value: &'static str,
    pub default: &'static str,
    pub help: &'static str,
}

pub const OPTIONS: &[OptionSpec] = &[
    OptionSpec {
        name: "auto",
        value: "0|1",
        default: "0",
        help: "the annotation-free mode for unmodified programs: watch heap objects (malloc and friends, operator new), learn how each is shared from the accesses that fault, and report two accesses of different threads to one address, at least one a write, that happens-before does not order",
    },
    OptionSpec {
        name: "sample",
        value: "RATE",
        default: "1",
        help: "with auto=1, the share (0 < RATE <= 1) of heap allocations watched, drawn from the seed, the allocation's call site and its rank there: runs with different seeds watch different objects",
    },
    OptionSpec {
        name: "auto_budget",
        value: "PERCENT",
        default: "10",
        help: "with auto=1, the share of each thread's time (0-100) that handling faults on watched objects may take; a thread over it parks the objects it faults on (every thread may access them unchecked) until a background sweep brings them back, so checking becomes sampling and the cost stays bounded; 0: no bound, every access that faults is checked",
    },
    OptionSpec {
        name: "mprotect_budget",
        value: "PERCENT",
        default: "10",
        help: "under the mprotect backend (without auto=1), the share of each thread's time (0-100) that faults on tracked objects and opening and closing them may take; a thread over it leaves the objects it would open open to every thread (checking suspended) until a background sweep closes them again, so lock-per-operation code stays usable and checking becomes sampling; 0: no bound, every access after a synchronization is checked",
    },
    OptionSpec {
        name: "backend",
        value: "auto|mpk|mprotect",
        default: "auto",
        help: "how policies are enforced: mpk (protection keys, near-native speed), mprotect (portable, every machine, slower; may miss a race that falls inside another thread's open window), auto (mpk where the CPU and kernel support it)",
    },
    OptionSpec {
        name: "halt_on_error",
        value: "0|1",
        default: "0",
        help: "stop the program with `exitcode` at the first report",
    },
    OptionSpec {
        name: "exitcode",
        value: "0..255",
        default: "66",
        help: "exit status of a process that reported anything",
    },
    OptionSpec {
        name: "log_path",
        value: "PATH",
        default: "stderr",
        help: "write reports to PATH.<pid> instead of stderr; `%p` in PATH is the pid and `%e` the program's name (then no `.<pid>` is added); with report_format=sarif, `push run` writes the run's SARIF log to PATH",
    },
    OptionSpec {
        name: "report_format",
        value: "text|json|sarif|github",
        default: "text",
        help: "text blocks; one JSON object per line; sarif: text, and one SARIF 2.1.0 log of the run (to log_path, else push.sarif); github: text, each report followed by a `::error file=F,line=L::` workflow annotation line",
    },
    OptionSpec {
        name: "suppressions",
        value: "FILE",
        default: "none",
        help: "file in ThreadSanitizer's format: `race:PATTERN` / `policy:PATTERN` / `annotation:PATTERN` lines, `#` comments; a report whose stack has a frame whose function, file or module matches PATTERN (a substring; `*` any characters, `^`/`$` anchor it) is not shown",
    },
    OptionSpec {
        name: "print_suppressions",
        value: "0|1",
        default: "0",
        help: "at exit, list each suppression with how many reports it matched, and the ones that matched none",
    },
    OptionSpec {
        name: "run_dir",
        value: "DIR",
        default: "temporary",
        help: "`push run` collects every process's reports in DIR and keeps it (`push report DIR` re-renders them); by default a temporary directory, removed at the end",
    },
    OptionSpec {
        name: "rehash_ms",
        value: "N",
        default: "100",
        help: "every N ms move owners that share a protection key to other keys (0 = never), so a recurring race hidden by a collision is caught in a later period",
    },
    OptionSpec {
        name: "seed",
        value: "N",
        default: "0",
        help: "seed of the owner->key map (0 = random)",
    },
    OptionSpec {
        name: "hb",
        value: "0|1",
        default: "1",
        help: "validate policy changes with happens-before (unordered policy change reports)",
    },
    OptionSpec {
        name: "max_maps",
        value: "N",
        default: "0",
        help: "plan for at most N memory mappings in the process (0 = vm.max_map_count); near the limit new objects are allocated untracked, with one warning",
    },
    OptionSpec {
        name: "verbose",
        value: "0|1",
        default: "0",
        help: "print runtime statistics at exit",
    },
];

fn parse_bool(name: &str, v: &str) -> Result<bool, String> {
    match v {
        "1" => Ok(true),
        "0" => Ok(false),
        _ => Err(format!("option '{name}': expected 0 or 1, got '{v}'")),
    }
}

/// A percentage from 0 to 100 (`auto_budget`, `mprotect_budget`).
fn parse_percent(name: &str, value: &str) -> Result<u32, String> {
    let v: u32 = parse_num(name, value, "a percentage from 0 to 100")?;
    if v > 100 {
        return Err(format!(
            "option '{name}': expected a percentage from 0 to 100, got '{value}'"
        ));
    }
    Ok(v)
}

/// A rate in (0, 1], as millionths.
fn parse_rate(v: &str) -> Result<u32, String> {
    let bad =
        || format!("option 'sample': expected a rate above 0 and at most 1 (e.g. 0.25), got '{v}'");
    let r: f64 = v.parse().map_err(|_| bad())?;
    if !(r > 0.0 && r <= 1.0) {
        return Err(bad());
    }
    Ok(((r * 1e6).round() as u32).max(1))
}

fn parse_num<T: std::str::FromStr>(name: &str, v: &str, what: &str) -> Result<T, String> {
    v.parse()
        .map_err(|_| format!("option '{name}': expected {what}, got '{v}'"))
}

impl Options {
    /// Applies one `name=value` setting.
    ///
    /// # Errors
    /// A message naming the option when the name is unknown or the value bad.
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), String> {
        match name {
            "halt_on_error" => self.halt_on_error = parse_bool(name, value)?,
            "verbose" => self.verbose = parse_bool(name, value)?,
            "hb" => self.hb = parse_bool(name, value)?,
            "print_suppressions" => self.print_suppressions = parse_bool(name, value)?,
            "auto" => self.auto = parse_bool(name, value)?,
            "sample" => self.sample_ppm = parse_rate(value)?,
            "auto_budget" => self.auto_budget = parse_percent(name, value)?,
            "mprotect_budget" => self.mprotect_budget = parse_percent(name, value)?,
            "run_dir" => {
                if value.is_empty() {
                    return Err("option 'run_dir': expected a directory, got ''".into());
                }
                self.run_dir = Some(value.to_string());
            }
            "exitcode" => {
                let v: i32 = parse_num(name, value, "an integer from 0 to 255")?;
                if !(0..=255).contains(&v) {
                    return Err(format!(
                        "option 'exitcode': expected an integer from 0 to 255, got '{value}'"
                    ));
                }
                self.exitcode = v;
            }
            "log_path" => {
                if value.is_empty() {
                    return Err("option 'log_path': expected a path, got ''".into());
                }
                self.log_path = Some(value.to_string());
            }
            "report_format" => {
                self.report_format = match value {
                    "text" => ReportFormat::Text,
                    "json" => ReportFormat::Json,
                    "sarif" => ReportFormat::Sarif,
                    "github" => ReportFormat::Github,
                    _ => {
                        return Err(format!(
                    "option 'report_format': expected text, json, sarif or github, got '{value}'"
                ))
                    }
                }
            }
            "suppressions" => {
                if value.is_empty() {
                    return Err("option 'suppressions': expected a file, got ''".into());
                }
                self.suppressions = Some(value.to_string());
            }
            "backend" => {
                self.backend = match value {
                    "auto" => BackendChoice::Auto,
                    "mpk" => BackendChoice::Mpk,
                    "mprotect" => BackendChoice::Mprotect,
                    _ => {
                        return Err(format!(
                            "option 'backend': expected auto, mpk or mprotect, got '{value}'"
                        ))
                    }
                }
            }
            "rehash_ms" => self.rehash_ms = parse_num(name, value, "a number of milliseconds")?,
            "seed" => self.seed = parse_num(name, value, "an unsigned integer")?,
            "max_maps" => self.max_maps = parse_num(name, value, "a number of mappings")?,
            _ => {
                let known: Vec<&str> = OPTIONS.iter().map(|o| o.name).collect();
                return Err(format!(
                    "unknown option '{name}' (known: {})",
                    known.join(", ")
                ));
            }
        }
        Ok(())
    }

    /// Applies a whole `PUSH_OPTIONS` string on top of `self`.
    ///
    /// # Errors
    /// A message naming the first bad setting.
    pub fn apply(&mut self, spec: &str) -> Result<(), String> {
        for item in spec
            .split(|c: char| c == ':' || c == ',' || c.is_whitespace())
            .filter(|s| !s.is_empty())
        {
            let Some((name, value)) = item.split_once('=') else {
                return Err(format!("malformed setting '{item}': expected name=value"));
            };
            self.set(name.trim(), value.trim())?;
        }
        Ok(())
    }

    /// Parses a `PUSH_OPTIONS` string over the defaults.
    ///
    /// # Errors
    /// A message naming the first bad setting.
    pub fn parse(spec: &str) -> Result<Options, String> {
        let mut o = Options::default();
        o.apply(spec)?;
        Ok(o)
    }

    /// Renders the options that differ from the defaults as a `PUSH_OPTIONS` string.
    pub fn to_spec(&self) -> String {
        let d = Options::default();
        let mut parts = Vec::new();
        if self.backend != d.backend {
            parts.push(format!("backend={}", self.backend.name()));
        }
        if self.halt_on_error != d.halt_on_error {
            parts.push(format!("halt_on_error={}", self.halt_on_error as u8));
        }
        if self.exitcode != d.exitcode {
            parts.push(format!("exitcode={}", self.exitcode));
        }
        if let Some(p) = &self.log_path {
            parts.push(format!("log_path={p}"));
        }
        if self.report_format != d.report_format {
            parts.push(format!("report_format={}", self.report_format.name()));
        }
        if let Some(s) = &self.suppressions {
            parts.push(format!("suppressions={s}"));
        }
        if self.rehash_ms != d.rehash_ms {
            parts.push(format!("rehash_ms={}", self.rehash_ms));
        }
        if self.seed != d.seed {
            parts.push(format!("seed={}", self.seed));
        }
        if self.verbose {
            parts.push("verbose=1".into());
        }
        if !self.hb {
            parts.push("hb=0".into());
        }
        if self.max_maps != d.max_maps {
            parts.push(format!("max_maps={}", self.max_maps));
        }
        if self.print_suppressions {
            parts.push("print_suppressions=1".into());
        }
        if let Some(d) = &self.run_dir {
            parts.push(format!("run_dir={d}"));
        }
        if self.auto {
            parts.push("auto=1".into());
        }
        if self.sample_ppm != d.sample_ppm {
            parts.push(format!("sample={}", f64::from(self.sample_ppm) / 1e6));
        }
        if self.auto_budget != d.auto_budget {
            parts.push(format!("auto_budget={}", self.auto_budget));
        }
        if self.mprotect_budget != d.mprotect_budget {
            parts.push(format!("mprotect_budget={}", self.mprotect_budget));
        }
        parts.join(":")
    }
}

/// The command-line flag of an option: `halt_on_error` is `--halt-on-error`.
pub fn flag_name(name: &str) -> String {
    format!("--{}", name.replace('_', "-"))
}

/// Help text listing every option (`push options`).
pub fn help() -> String {
    let mut s = String::from(
        "PUSh options: set them as flags of `push run` (--name-with-dashes VALUE) or in\n\
         PUSH_OPTIONS=name=value[:name=value...] (also separated by ',' or spaces); flags win.\n\n",
    );
    for o in OPTIONS {
        s.push_str(&format!(
            "  {}={}  (flag {}, default {})\n      {}\n",
            o.name,
            o.value,
            flag_name(o.name),
            o.default,
            o.help
        ));
    }
    s
}

/// The options as a Markdown table (`push options --markdown`): the table in
/// `docs/options.md`, which a unit test keeps equal to this.
pub fn markdown_table() -> String {
    let mut s = String::from(
        "| option | flag | values | default | meaning |\n| --- | --- | --- | --- | --- |\n",
    );
    for o in OPTIONS {
        s.push_str(&format!(
            "| `{}` | `{}` | `{}` | {} | {} |\n",
            o.name,
            flag_name(o.name),
            o.value.replace('|', "\\|"),
            o.default,
            o.help.replace('|', "\\|")
        ));
    }
    s
}

#[cfg(test)]
mod tests;
