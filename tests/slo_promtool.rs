//! `nerve check slos` against Debian's promtool: the rules generated for the example specs
//! in `tests/slo/examples/` pass `promtool check rules`, and the rules generated for
//! `tests/slo/burn.yml` produce, under `promtool test rules tests/slo/burn.test.yml`, the
//! alerts that file expects for burns at 16x (14.4x pair), 7x (6x and 1x pairs), 4x (3x
//! pair), 1.5x (1x pair) and 0.5x (none). nerve's own evaluation of the same file is the
//! unit test `slo::eval_tests`.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn nerve() -> Command {
    Command::new(env!("CARGO_BIN_EXE_nerve"))
}

fn slo_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/slo")
}

/// `nerve check slos --print FILE` (which must succeed): the generated rule file.
fn generated(spec: &Path) -> String {
    let out = nerve().args(["check", "slos", "--print"]).arg(spec).output().unwrap();
    assert!(
        out.status.success(),
        "{}: {}",
        spec.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn show(out: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn example_specs_pass_promtool_check_rules() {
    let promtool = common::require("promtool");
    let dir = tempfile::tempdir().unwrap();
    let mut specs: Vec<PathBuf> = std::fs::read_dir(slo_dir().join("examples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    specs.sort();
    assert!(specs.len() >= 6);
    let mut checked = 0;
    for spec in &specs {
        let rules = generated(spec);
        assert!(rules.contains("sloth-slo-meta-recordings-"), "{rules}");
        // nerve's LogQL groups are an extension promtool does not know.
        if rules.contains("language: logql") {
            continue;
        }
        let path = dir.path().join(spec.file_name().unwrap());
        std::fs::write(&path, &rules).unwrap();
        let out = Command::new(&promtool)
            .args(["check", "rules"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}:\n{}\n{rules}", spec.display(), show(&out));
        // And nerve's own checker reads the printed file back.
        let out = nerve().args(["check", "rules"]).arg(&path).output().unwrap();
        assert!(out.status.success(), "{}", show(&out));
        checked += 1;
    }
    assert_eq!(checked, specs.len() - 1);
}

#[test]
fn burn_scenarios_pass_promtool_test_rules() {
    let promtool = common::require("promtool");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("burn.rules.yml"),
        generated(&slo_dir().join("burn.yml")),
    )
    .unwrap();
    let test = std::fs::read_to_string(slo_dir().join("burn.test.yml")).unwrap();
    std::fs::write(dir.path().join("burn.test.yml"), &test).unwrap();
    let out = Command::new(&promtool)
        .args(["test", "rules", "burn.test.yml"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    // The test can fail: without the fast burn's page at 20h, promtool reports it.
    let page = "      - eval_time: 20h\n        alertname: ShopFastBurn\n        exp_alerts:\n";
    let at = test.find(page).expect("the fast burn's 20h expectation");
    let end = test[at + page.len()..]
        .find("      - eval_time:")
        .map_or(test.len(), |i| at + page.len() + i);
    let broken = format!(
        "{}      - eval_time: 20h\n        alertname: ShopFastBurn\n        exp_alerts: []\n{}",
        &test[..at],
        &test[end..]
    );
    std::fs::write(dir.path().join("broken.test.yml"), broken).unwrap();
    let out = Command::new(&promtool)
        .args(["test", "rules", "broken.test.yml"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success(), "{}", show(&out));
    assert!(show(&out).contains("ShopFastBurn"), "{}", show(&out));
}

#[test]
fn check_slos_reports_problems() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("slos")).unwrap();
    let bad = dir.path().join("slos/bad.yml");
    std::fs::write(
        &bad,
        "version: prometheus/v1\nservice: svc\nslos:\n- name: api\n  objective: 120\n  sli:\n    events:\n      error_query: sum(rate(e[5m]))\n      total_query: sum(rate(t[{{.window}}]))\n  alerting: {name: A}\n",
    )
    .unwrap();
    let good = slo_dir().join("examples/no-alerts.yml");
    let out = nerve().args(["check", "slos"]).arg(&good).arg(&bad).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stdout.contains("SUCCESS: 1 SLOs, 15 rules generated"), "{stdout}");
    assert!(
        stderr.contains("slo \"api\": objective: must be > 0 and <= 100, not 120"),
        "{stderr}"
    );
    assert!(
        stderr.contains("slo \"api\": sli.events.error_query: must contain the {{.window}} variable"),
        "{stderr}"
    );
    // `check config` checks the SLO files the config names.
    let cfg = dir.path().join("nerve.yml");
    std::fs::write(&cfg, "slo_files: ['slos/*.yml']\n").unwrap();
    let out = nerve().args(["check", "config"]).arg(&cfg).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(show(&out).contains("FAILED: invalid SLO files"), "{}", show(&out));
}
