//! Service level objectives: SLO specs in Sloth's `prometheus/v1` format turned into
//! recording and burn-rate alerting rules with Sloth's names and labels.
//!
//! - [`spec`]: the spec format (plus nerve's `sli.logql`), strict parsing and validation.
//! - [`generate`]: the rule groups generated per SLO.
//! - [`yaml`]: the generated rules as a Prometheus rule file (`nerve check slos --print`).
//!
//! The files listed under the config's `slo_files` are loaded by the rules manager together
//! with `rule_files`; their groups run, show and alert like any other rule group.

pub mod generate;
pub mod spec;
pub mod yaml;

#[cfg(test)]
mod eval_tests;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

use crate::rules::file::{self, RuleFile};

/// Reads and validates a spec file and generates its rules; the error is one line per
/// problem, each starting with the path.
pub fn load(path: &Path) -> Result<RuleFile, Vec<String>> {
    let mut rules = RuleFile::default();
    for spec in spec::load(path)? {
        rules
            .groups
            .extend(generate::generate(&spec, &generate::Info::default()).groups);
    }
    // The spec checks should make this impossible; a generated file nerve itself would
    // reject must not start running.
    let errs = file::validate(&rules);
    if errs.is_empty() {
        Ok(rules)
    } else {
        Err(errs
            .into_iter()
            .map(|e| format!("{}: generated rules: {e}", path.display()))
            .collect())
    }
}

/// `nerve check slos FILE...`: `Checking F`, then `SUCCESS: n SLOs, m rules generated` or
/// `FAILED:` and the problems; with `print`, every file's generated rules as one rule-file
/// YAML on `out` instead of the report (the report goes to `err`). Returns whether every
/// file passed.
pub fn check_files(files: &[PathBuf], print: bool, out: &mut dyn std::io::Write, err: &mut dyn std::io::Write) -> bool {
    let mut ok = true;
    let mut all = RuleFile::default();
    for f in files {
        let report: &mut dyn std::io::Write = if print { &mut *err } else { &mut *out };
        let _ = writeln!(report, "Checking {}", f.display());
        match load(f) {
            Ok(rf) => {
                let slos = rf
                    .groups
                    .iter()
                    .filter(|g| g.name.starts_with("sloth-slo-meta-"))
                    .count();
                let n: usize = rf.groups.iter().map(|g| g.rules.len()).sum();
                let _ = writeln!(report, "  SUCCESS: {slos} SLOs, {n} rules generated\n");
                all.groups.extend(rf.groups);
            }
            Err(problems) => {
                ok = false;
                let _ = writeln!(err, "  FAILED:\n{}\n", problems.join("\n"));
            }
        }
    }
    if print && ok {
        let dup = file::validate(&all);
        if dup.is_empty() {
            let _ = out.write_all(yaml::to_yaml(&all).as_bytes());
        } else {
            for p in dup {
                let _ = writeln!(err, "FAILED: {p}");
            }
            ok = false;
        }
    }
    ok
}
