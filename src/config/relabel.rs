//! Relabeling rules (`relabel_configs`, `metric_relabel_configs`, `write_relabel_configs`,
//! `alert_relabel_configs`), parsed and checked as Prometheus does. `crate::scrape::relabel`
//! applies them.

use serde::{Deserialize, Serialize};

/// What a relabel rule does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RelabelAction {
    /// Sets `target_label` to `replacement` (with regex groups expanded) when `regex` matches.
    #[default]
    Replace,
    /// Keeps the target/series only when `regex` matches the joined source labels.
    Keep,
    /// Drops the target/series when `regex` matches.
    Drop,
    /// Keeps it when the joined source labels equal the value of `target_label`.
    KeepEqual,
    /// Drops it when the joined source labels equal the value of `target_label`.
    DropEqual,
    /// Sets `target_label` to the hash of the source labels modulo `modulus`.
    HashMod,
    /// Copies labels whose names match `regex` to names built from `replacement`.
    LabelMap,
    /// Removes labels whose names match `regex`.
    LabelDrop,
    /// Removes labels whose names do not match `regex`.
    LabelKeep,
    /// Sets `target_label` to the lower-cased joined source labels.
    Lowercase,
    /// Sets `target_label` to the upper-cased joined source labels.
    Uppercase,
}

/// One relabel rule. Defaults are Prometheus': separator `;`, regex `(.*)`, replacement `$1`,
/// action `replace`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RelabelConfig {
    /// Labels whose values are joined with `separator` and matched against `regex`.
    #[serde(default, deserialize_with = "super::null_default")]
    pub source_labels: Vec<String>,
    /// Separator for joining source label values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub separator: Option<String>,
    /// Label written by replace-like actions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_label: Option<String>,
    /// Regex (fully anchored, as in Prometheus).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
    /// Modulus for `hashmod`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modulus: Option<u64>,
    /// Replacement with `$1`-style group references.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replacement: Option<String>,
    /// The action.
    #[serde(default)]
    pub action: RelabelAction,
}

impl RelabelConfig {
    /// Checks what Prometheus checks when loading: the regex compiles, actions have the fields
    /// they need. `context` prefixes the message (e.g. the job name).
    pub fn validate(&self, context: &str) -> Result<(), String> {
        use RelabelAction as A;
        if let Some(re) = &self.regex {
            regex::Regex::new(&format!("^(?s:{re})$"))
                .map_err(|e| format!("{context}: invalid relabel regex {re:?}: {e}"))?;
        }
        let needs_target = matches!(
            self.action,
            A::Replace | A::HashMod | A::Lowercase | A::Uppercase | A::KeepEqual | A::DropEqual
        );
        if needs_target && self.target_label.as_deref().unwrap_or("").is_empty() {
            return Err(format!(
                "{context}: relabel configuration for {:?} action requires 'target_label' value",
                self.action_name()
            ));
        }
        if self.action == A::HashMod && self.modulus.unwrap_or(0) == 0 {
            return Err(format!(
                "{context}: relabel configuration for hashmod requires non-zero modulus"
            ));
        }
        if matches!(self.action, A::LabelDrop | A::LabelKeep)
            && (!self.source_labels.is_empty()
                || self.target_label.is_some()
                || self.modulus.is_some()
                || self.separator.is_some()
                || self.replacement.is_some())
        {
            return Err(format!(
                "{context}: {} action requires only 'regex', and no other fields",
                self.action_name()
            ));
        }
        Ok(())
    }

    fn action_name(&self) -> &'static str {
        self.action.as_str()
    }
}

impl RelabelAction {
    /// The action's name as written in the config.
    pub fn as_str(self) -> &'static str {
        match self {
            RelabelAction::Replace => "replace",
            RelabelAction::Keep => "keep",
            RelabelAction::Drop => "drop",
            RelabelAction::KeepEqual => "keepequal",
            RelabelAction::DropEqual => "dropequal",
            RelabelAction::HashMod => "hashmod",
            RelabelAction::LabelMap => "labelmap",
            RelabelAction::LabelDrop => "labeldrop",
            RelabelAction::LabelKeep => "labelkeep",
            RelabelAction::Lowercase => "lowercase",
            RelabelAction::Uppercase => "uppercase",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(yaml: &str) -> RelabelConfig {
        serde_saphyr::from_str(yaml).unwrap()
    }

    #[test]
    fn validation() {
        assert!(rule("source_labels: [a]\ntarget_label: b\n").validate("j").is_ok());
        assert!(
            rule("action: keep\nsource_labels: [a]\nregex: x|y\n")
                .validate("j")
                .is_ok()
        );
        assert!(rule("action: labeldrop\nregex: tmp_.*\n").validate("j").is_ok());
        let e = rule("source_labels: [a]\n").validate("job x").unwrap_err();
        assert!(e.contains("target_label"), "{e}");
        assert!(rule("action: hashmod\ntarget_label: t\n").validate("j").is_err());
        assert!(rule("action: keep\nregex: '('\n").validate("j").is_err());
        assert!(
            rule("action: labelkeep\nregex: a\ntarget_label: b\n")
                .validate("j")
                .is_err()
        );
    }

    #[test]
    fn unknown_action_is_an_error() {
        let e = serde_saphyr::from_str::<RelabelConfig>("action: explode\n").unwrap_err();
        assert!(e.to_string().contains("explode"), "{e}");
    }
}
