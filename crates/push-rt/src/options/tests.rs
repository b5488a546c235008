//! The option parser's tests.

use super::*;

#[test]
fn parses_all() {
    let o = Options::parse(
        "backend=mprotect:halt_on_error=1:exitcode=3:log_path=/tmp/x:report_format=json:suppressions=s.txt:rehash_ms=10:seed=7:verbose=1:hb=0:max_maps=900:print_suppressions=1:run_dir=/tmp/r:auto=1:sample=0.25:auto_budget=25",
    )
    .unwrap();
    assert!(o.halt_on_error && o.verbose);
    assert_eq!(o.backend, BackendChoice::Mprotect);
    assert_eq!(o.exitcode, 3);
    assert_eq!(o.log_path.as_deref(), Some("/tmp/x"));
    assert_eq!(o.report_format, ReportFormat::Json);
    assert_eq!((o.rehash_ms, o.seed), (10, 7));
    assert!(o.auto);
    assert_eq!(o.sample_ppm, 250_000);
    assert_eq!(Options::parse(&o.to_spec()).unwrap(), o);
    for f in ["text", "json", "sarif", "github"] {
        let o = Options::parse(&format!("report_format={f}")).unwrap();
        assert_eq!(o.report_format.name(), f);
        assert_eq!(Options::parse(&o.to_spec()).unwrap(), o);
    }
    assert_eq!(Options::parse("").unwrap(), Options::default());
}

#[test]
fn rejects_bad() {
    for (spec, needle) in [
        ("bogus=1", "bogus"),
        ("halt_on_error=maybe", "halt_on_error"),
        ("exitcode=abc", "exitcode"),
        ("exitcode=300", "exitcode"),
        ("report_format=xml", "report_format"),
        ("halt_on_error", "halt_on_error"),
        ("seed=-1", "seed"),
        ("max_maps=lots", "max_maps"),
        ("backend=pkeys", "backend"),
        ("verbose=yes", "verbose"),
        ("hb=true", "hb"),
        ("print_suppressions=2", "print_suppressions"),
        ("run_dir=", "run_dir"),
        ("auto=yes", "auto"),
        ("sample=0", "sample"),
        ("sample=1.5", "sample"),
        ("sample=often", "sample"),
        ("auto_budget=101", "auto_budget"),
        ("auto_budget=-1", "auto_budget"),
        ("auto_budget=much", "auto_budget"),
        ("mprotect_budget=101", "mprotect_budget"),
    ] {
        let e = Options::parse(spec).unwrap_err();
        assert!(e.contains(needle), "{spec}: {e}");
    }
}

#[test]
fn docs_table_is_generated_from_the_table() {
    let doc = include_str!("../../../../docs/options.md");
    assert!(
        doc.contains(&markdown_table()),
        "docs/options.md is out of date: paste the output of `push options --markdown` into it"
    );
}
