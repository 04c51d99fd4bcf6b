//! The relabeling engine: applies `relabel_configs` to discovered targets and
//! `metric_relabel_configs` to scraped series, with Prometheus' semantics
//! (`model/relabel/relabel.go`, documented in `docs/configuration/configuration.md`).
//!
//! - Source label values are joined with the separator (missing labels count as `""`).
//! - Regexes are fully anchored.
//! - `replace` expands `$1`, `${1}`, `$name`, `$$` in both `target_label` and `replacement`
//!   (Go's `Regexp.Expand` rules, which `regex::Captures::expand` shares: `$1x` names group
//!   `1x`); no match leaves the labels alone, an invalid target name is skipped, an empty
//!   result deletes the target label.
//! - `hashmod` takes the last 8 bytes of the MD5 of the joined value, big-endian, modulo
//!   `modulus`.
//! - Setting a label to `""` deletes it.

use std::collections::BTreeMap;

use md5::{Digest, Md5};
use nerve_storage::labels::is_valid_label_name;
use regex::Regex;

use crate::config::relabel::{RelabelAction, RelabelConfig};

/// A label set being rewritten: name → value, sorted by name, no empty values.
pub type LabelMap = BTreeMap<String, String>;

/// One compiled relabel rule.
#[derive(Clone, Debug)]
pub struct Rule {
    source_labels: Vec<String>,
    separator: String,
    target_label: String,
    regex: Regex,
    modulus: u64,
    replacement: String,
    action: RelabelAction,
}

impl Rule {
    /// Compiles a rule from the config, with Prometheus' defaults (separator `;`, regex
    /// `(.*)`, replacement `$1`).
    pub fn compile(cfg: &RelabelConfig) -> Result<Rule, String> {
        let re = cfg.regex.as_deref().unwrap_or("(.*)");
        let regex = Regex::new(&format!("^(?s:{re})$")).map_err(|e| format!("invalid relabel regex {re:?}: {e}"))?;
        Ok(Rule {
            source_labels: cfg.source_labels.clone(),
            separator: cfg.separator.clone().unwrap_or_else(|| ";".to_owned()),
            target_label: cfg.target_label.clone().unwrap_or_default(),
            regex,
            modulus: cfg.modulus.unwrap_or(0),
            replacement: cfg.replacement.clone().unwrap_or_else(|| "$1".to_owned()),
            action: cfg.action,
        })
    }

    /// Compiles a list of rules.
    pub fn compile_all(cfgs: &[RelabelConfig]) -> Result<Vec<Rule>, String> {
        cfgs.iter().map(Rule::compile).collect()
    }

    /// Applies this rule; `false` means the target or series is dropped.
    fn apply(&self, lb: &mut LabelMap) -> bool {
        use RelabelAction as A;
        let val = self.joined(lb);
        match self.action {
            A::Drop => return !self.regex.is_match(&val),
            A::Keep => return self.regex.is_match(&val),
            A::DropEqual => return get(lb, &self.target_label) != val,
            A::KeepEqual => return get(lb, &self.target_label) == val,
            A::Replace => {
                let Some(caps) = self.regex.captures(&val) else {
                    return true;
                };
                let mut target = String::new();
                caps.expand(&self.target_label, &mut target);
                if !is_valid_label_name(&target) {
                    return true;
                }
                let mut res = String::new();
                caps.expand(&self.replacement, &mut res);
                set(lb, target, res);
            }
            A::Lowercase => set(lb, self.target_label.clone(), val.to_lowercase()),
            A::Uppercase => set(lb, self.target_label.clone(), val.to_uppercase()),
            A::HashMod => {
                let hash = Md5::digest(val.as_bytes());
                let mut last8 = [0u8; 8];
                last8.copy_from_slice(&hash[8..16]);
                let m = u64::from_be_bytes(last8) % self.modulus.max(1);
                set(lb, self.target_label.clone(), m.to_string());
            }
            A::LabelMap => {
                let snapshot: Vec<(String, String)> = lb.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                for (name, value) in snapshot {
                    if let Some(caps) = self.regex.captures(&name) {
                        let mut new_name = String::new();
                        caps.expand(&self.replacement, &mut new_name);
                        set(lb, new_name, value);
                    }
                }
            }
            A::LabelDrop => lb.retain(|name, _| !self.regex.is_match(name)),
            A::LabelKeep => lb.retain(|name, _| self.regex.is_match(name)),
        }
        true
    }

    fn joined(&self, lb: &LabelMap) -> String {
        let mut out = String::new();
        for (i, name) in self.source_labels.iter().enumerate() {
            if i > 0 {
                out.push_str(&self.separator);
            }
            out.push_str(get(lb, name));
        }
        out
    }
}

fn get<'m>(lb: &'m LabelMap, name: &str) -> &'m str {
    lb.get(name).map_or("", String::as_str)
}

/// Sets a label; an empty value deletes it (Prometheus' `labels.Builder.Set`).
fn set(lb: &mut LabelMap, name: String, value: String) {
    if value.is_empty() {
        lb.remove(&name);
    } else {
        lb.insert(name, value);
    }
}

/// Applies `rules` in order; `false` as soon as one drops the label set (the map is then in
/// an unspecified state).
pub fn process(lb: &mut LabelMap, rules: &[Rule]) -> bool {
    rules.iter().all(|r| r.apply(lb))
}

#[cfg(test)]
mod tests;
