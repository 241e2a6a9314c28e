//! Golden tests of `check-config` output: a file with many mistakes must produce every
//! error, in file order, each as `FILE:LINE:COLUMN: message`.
//!
//! After an intended change of wording, regenerate the expected files with
//! `UPDATE_GOLDEN=1 cargo test --test it -- config_errors` and review the diff.

use std::path::Path;
use xvc_agent::config::{self, ConfigError, EX_CONFIG};

/// Loads `tests/data/NAME.yaml` (by its path relative to the crate, as an operator would
/// name it) and compares the error listing with `tests/data/NAME.expected`.
fn check_golden(name: &str) {
    let yaml = format!("tests/data/{name}.yaml");
    let expected_path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/data/{name}.expected"));
    let err = match config::load(Path::new(&yaml)) {
        Ok(c) => panic!("{yaml} should not load, got {c:?}"),
        Err(e) => e,
    };
    assert!(matches!(err, ConfigError::Invalid { .. }), "{err}");
    let got = format!("{err}\n");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&expected_path, &got).unwrap();
    }
    let want = std::fs::read_to_string(&expected_path).unwrap();
    assert_eq!(got, want, "\n--- got ---\n{got}--- want ---\n{want}");
    // Every line names the file, a line and a column.
    for line in got.lines() {
        let rest = line.strip_prefix(&format!("{yaml}:")).expect(line);
        let mut parts = rest.splitn(3, ':');
        let line_no: usize = parts.next().unwrap().parse().expect(line);
        let column: usize = parts.next().unwrap().parse().expect(line);
        assert!(line_no >= 1 && column >= 1, "{line}");
    }
    assert_eq!(err.diagnostics().len(), got.lines().count());
}

#[test]
fn many_mistakes_are_all_reported() {
    check_golden("bad-config");
}

#[test]
fn yaml_syntax_error_has_a_position() {
    check_golden("syntax-error");
}

#[test]
fn exit_status_is_ex_config() {
    assert_eq!(EX_CONFIG, 78);
}
