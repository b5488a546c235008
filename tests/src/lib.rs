//! Harness of the PUSh integration tests.
//!
//! The tests compile the small C programs of `tests/c/` with gcc, run them
//! as child processes (natively, under `LD_PRELOAD=libpush.so`, and under
//! `push run`), each with a timeout, and check their exit status, their
//! stdout and the race reports on their stderr (format: `docs/reports.md`).
//!
//! A line of a C program where the runtime must report a forbidden access
//! ends with a marker comment `/* RACE:tag */`; [`marker_line`] finds it, so
//! the expected `file:line` of frame `#0` never has to be hard-coded.
//!
//! The harness, by job (everything is re-exported here, so tests say
//! `use push_tests::*;`):
//!
//! * [`paths`]: the repository, the target directory, the built runtime
//!   and CLI, the C sources, scratch directories;
//! * [`compile`]: compiling the C (and C++) programs ([`compile_c`]);
//! * [`run`]: running children with a timeout, natively, under
//!   `LD_PRELOAD` and under `push run` ([`RunResult`]);
//! * [`pku`]: PKU detection, the suite's backend, skips and the
//!   `require_pku!` / `mpk_only!` macros;
//! * [`parse`]: markers, the text-report parser (with auto mode's
//!   previous access, [`PreviousAccess`]), the summary line;
//! * [`assert`](mod@assert): `assert_*` on a run;
//! * [`scenarios`]: [`check_clean`], [`check_racy`] and their kin;
//! * [`unordered`]: happens-before validation ([`check_unordered`]);
//! * [`auto`](mod@auto): auto mode's unannotated programs
//!   ([`check_auto_racy`], [`check_auto_clean`], [`check_auto_off`]);
//! * [`rust_examples`]: the Rust programs of `examples/rust`.

pub mod assert;
pub mod auto;
pub mod compile;
pub mod parse;
pub mod paths;
pub mod pku;
pub mod run;
pub mod rust_examples;
pub mod scenarios;
pub mod unordered;

pub use assert::*;
pub use auto::*;
pub use compile::*;
pub use parse::*;
pub use paths::*;
pub use pku::*;
pub use run::*;
pub use rust_examples::*;
pub use scenarios::*;
pub use unordered::*;
