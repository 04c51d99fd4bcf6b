//! Go's `text/template` as Prometheus rule authors use it in alert labels and annotations:
//! the shared engine ([`nerve_query::gotemplate`]) in Prometheus' dialect, with the
//! predefined variables `$labels`, `$externalLabels`, `$externalURL`, `$value` and the
//! functions of [`super::template_funcs`]. What parses is what Go's parser (as in promtool
//! 2.42) accepts; `tests/check_rules_promtool.rs` checks that on 128 snippets.
//!
//! Errors read like Go's: at parse time `template: __alert_X:1: function "nope" not defined`,
//! when run `template: __alert_X:1:115: executing "__alert_X" at <humanize "x">: ...` with the
//! same columns as Prometheus (`tests/rules_template_oracle.rs` compares them).

use std::borrow::Cow;
use std::collections::BTreeMap;

pub use nerve_query::gotemplate::Value;
use nerve_query::gotemplate::{self, Dialect, Env, FuncError, TemplateError};

use super::template_funcs::{FUNCTIONS, call};

/// Samples as the template `query` function returns them: `(labels, value)`.
pub type QuerySamples = Vec<(BTreeMap<String, String>, f64)>;

/// Answers the template `query` function: PromQL text → samples.
pub type QueryFn<'a> = dyn Fn(&str) -> Result<QuerySamples, String> + 'a;

/// Length of the definitions Prometheus prepends to alert templates
/// (`{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}`
/// `{{$externalURL := .ExternalURL}}{{$value := .Value}}`), which shifts its error columns.
const PROMETHEUS_HEADER_LEN: usize = 112;

/// Prometheus' dialect of Go templates.
static PROMETHEUS: Dialect = Dialect {
    functions: FUNCTIONS,
    predefined_vars: &["labels", "externalLabels", "externalURL", "value"],
    variables: true,
    rejected_keywords: &[],
    label: "Prometheus templates",
    typed_comparison_errors: false,
    first_line_col_offset: PROMETHEUS_HEADER_LEN,
};

/// A parsed alert template. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Template(gotemplate::Template);

/// What a template sees: the data (`.`) and the predefined variables.
#[derive(Clone, Debug, Default)]
pub struct TemplateData {
    /// The root value (`.` and `$`).
    pub dot: Value,
    /// Variables available from the start, without the `$`.
    pub vars: Vec<(String, Value)>,
}

/// A sample as templates see it: `.Labels` and `.Value`.
pub fn sample_value(labels: &BTreeMap<String, String>, v: f64) -> Value {
    Value::Map(BTreeMap::from([
        ("Labels".to_owned(), string_map(labels)),
        ("Value".to_owned(), Value::Float(v)),
    ]))
}

fn string_map(m: &BTreeMap<String, String>) -> Value {
    Value::Map(m.iter().map(|(k, v)| (k.clone(), Value::Str(v.clone()))).collect())
}

impl TemplateData {
    /// The data of alert label and annotation templates, as Prometheus defines it:
    /// `.Labels`, `.ExternalLabels`, `.ExternalURL`, `.Value`, and the variables `$labels`,
    /// `$externalLabels`, `$externalURL`, `$value`.
    pub fn alert(
        labels: &BTreeMap<String, String>,
        external_labels: &BTreeMap<String, String>,
        external_url: &str,
        value: f64,
    ) -> Self {
        let vars = vec![
            ("labels".to_owned(), string_map(labels)),
            ("externalLabels".to_owned(), string_map(external_labels)),
            ("externalURL".to_owned(), Value::Str(external_url.to_owned())),
            ("value".to_owned(), Value::Float(value)),
        ];
        let dot = Value::Map(BTreeMap::from([
            ("Labels".to_owned(), vars[0].1.clone()),
            ("ExternalLabels".to_owned(), vars[1].1.clone()),
            ("ExternalURL".to_owned(), vars[2].1.clone()),
            ("Value".to_owned(), vars[3].1.clone()),
        ]));
        TemplateData { dot, vars }
    }
}

/// One run of an alert template: its data and the `query` function.
pub(super) struct AlertEnv<'a> {
    data: &'a TemplateData,
    /// Answers `query` (None: it fails).
    pub query: Option<&'a QueryFn<'a>>,
}

impl Env for AlertEnv<'_> {
    fn field(&self, name: &str) -> Cow<'_, Value> {
        const EMPTY: &Value = &Value::Str(String::new());
        match &self.data.dot {
            Value::Map(m) => Cow::Borrowed(m.get(name).unwrap_or(EMPTY)),
            _ => Cow::Borrowed(EMPTY),
        }
    }

    fn root(&self) -> Value {
        self.data.dot.clone()
    }

    fn vars(&self) -> Vec<(String, Value)> {
        self.data.vars.clone()
    }

    fn call(&self, name: &str, args: Vec<Value>) -> Result<Value, FuncError> {
        call(name, args, self)
    }
}

impl Template {
    /// Parses `src`; `name` appears in error messages (Prometheus uses `__alert_<name>`).
    pub fn parse(name: &str, src: &str) -> Result<Template, TemplateError> {
        gotemplate::Template::parse(name, src, &PROMETHEUS).map(Template)
    }

    /// The name given to [`Template::parse`].
    pub fn name(&self) -> &str {
        self.0.name()
    }

    /// Runs the template; `query` answers the `query` function (None: it fails).
    pub fn execute(&self, data: &TemplateData, query: Option<&QueryFn<'_>>) -> Result<String, TemplateError> {
        let env = AlertEnv { data, query };
        let mut out = String::new();
        self.0.execute(&env, &mut out)?;
        Ok(out)
    }
}

#[cfg(test)]
#[path = "template_tests.rs"]
mod tests;
