//! LogQL's `line_format` and `label_format` templates: Go's `text/template`
//! ([`crate::gotemplate`]) in Loki's dialect.
//!
//! Loki parses these with Go's parser (`missingkey=zero`, template names `line` and `label`)
//! over a map of the line's labels; here `.name` reads the label straight from the line's
//! labels, and the map is built only for templates that use `.` itself. Functions: Go's built-ins and [`FUNCTIONS`].
//! Refused when the query is parsed: variables, `range`, `with`, `define`/`template`/`block`,
//! `break`/`continue`. Loki accepts them (its parser is Go's); nerve keeps refusing them
//! (`tests/logql_parse_errors.rs` pins `range` as a parse error), which the shared engine
//! could lift by changing this dialect. Everything else answers as the Loki build recorded in
//! `tests/loki_golden/line_format.tsv` does.

use std::borrow::Cow;

use crate::gotemplate::{self, Dialect, Env, FuncError, TemplateError, Value};

pub use super::template_funcs::FUNCTIONS;
use super::template_funcs::call;

/// Loki's dialect of Go templates.
static LOGQL: Dialect = Dialect {
    functions: FUNCTIONS,
    predefined_vars: &[],
    variables: false,
    rejected_keywords: &["range", "with", "define", "template", "block", "break", "continue"],
    label: "LogQL templates",
    typed_comparison_errors: true,
    first_line_col_offset: 0,
};

/// A compiled template.
#[derive(Clone, Debug)]
pub struct Template(gotemplate::Template);

/// What a template can read while it runs.
pub trait TemplateData {
    /// The value of a label, if present.
    fn label(&self, name: &str) -> Option<&str>;
    /// Every label, as the map Loki runs templates over (`{{ . }}`, `index . "x"`).
    fn labels(&self) -> Vec<(&str, &str)>;
}

/// Per-line inputs of a template run.
pub struct TemplateCtx<'a> {
    /// Labels.
    pub data: &'a dyn TemplateData,
    /// The current line (`__line__`).
    pub line: &'a str,
    /// The entry timestamp (`__timestamp__`).
    pub ts_ns: i64,
}

impl Env for TemplateCtx<'_> {
    fn field(&self, name: &str) -> Cow<'_, Value> {
        // missingkey=zero over Loki's map[string]string: a missing label is "".
        Cow::Owned(Value::Str(self.data.label(name).unwrap_or_default().to_owned()))
    }

    fn root(&self) -> Value {
        let labels = self.data.labels().into_iter();
        Value::Map(labels.map(|(k, v)| (k.to_owned(), Value::Str(v.to_owned()))).collect())
    }

    fn call(&self, name: &str, args: Vec<Value>) -> Result<Value, FuncError> {
        call(name, args, self)
    }
}

impl Template {
    /// Parses a `line_format` template; errors read like Go's (`template: line:1: ...`).
    pub fn parse(src: &str) -> Result<Template, TemplateError> {
        gotemplate::Template::parse("line", src, &LOGQL).map(Template)
    }

    /// Parses a `label_format` template (named `label`, as Loki names it).
    pub fn parse_label(src: &str) -> Result<Template, TemplateError> {
        gotemplate::Template::parse("label", src, &LOGQL).map(Template)
    }

    /// Runs the template, appending to `out`. Errors are Go's execution messages.
    pub fn exec(&self, ctx: &TemplateCtx<'_>, out: &mut String) -> Result<(), TemplateError> {
        self.0.execute(ctx, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct M(HashMap<&'static str, &'static str>);
    impl TemplateData for M {
        fn label(&self, name: &str) -> Option<&str> {
            self.0.get(name).copied()
        }

        fn labels(&self) -> Vec<(&str, &str)> {
            self.0.iter().map(|(k, v)| (*k, *v)).collect()
        }
    }

    fn run(t: &str) -> Result<String, TemplateError> {
        let m = M(HashMap::from([("a", "hello world"), ("n", "42"), ("e", "")]));
        let tpl = Template::parse(t)?;
        let mut out = String::new();
        tpl.exec(
            &TemplateCtx {
                data: &m,
                line: "the line",
                ts_ns: 1_500_000_000,
            },
            &mut out,
        )?;
        Ok(out)
    }

    #[test]
    fn basics() {
        assert_eq!(run("{{.a}} / {{ .a | ToUpper }}").unwrap(), "hello world / HELLO WORLD");
        assert_eq!(run("{{.missing}}!").unwrap(), "!");
        assert_eq!(run(r#"{{ .a | replace "world" "you" | title }}"#).unwrap(), "Hello You");
        assert_eq!(run(r#"{{ substr 0 5 .a }}|{{ trunc 3 .a }}"#).unwrap(), "hello|hel");
        assert_eq!(run(r#"{{ printf "%s=%d" .a 3 }}"#).unwrap(), "hello world=3");
        assert_eq!(run(r#"{{ .e | default "none" }}"#).unwrap(), "none");
        assert_eq!(
            run("{{ __line__ }} {{ __timestamp__ | unixEpoch }}").unwrap(),
            "the line 1"
        );
        assert_eq!(run("{{ __timestamp__ }}").unwrap(), "1970-01-01 00:00:01.5 +0000 UTC");
        assert_eq!(
            run(r#"{{ regexReplaceAll "o(.)" .a "0${1}" }}"#).unwrap(),
            "hell0 w0rld"
        );
        assert_eq!(run("{{ len .n }}").unwrap(), "2");
        assert_eq!(run("a {{- \" b \" -}} c").unwrap(), "a b c");
    }

    #[test]
    fn conditionals() {
        assert_eq!(run(r#"{{ if eq .n "42" }}yes{{ else }}no{{ end }}"#).unwrap(), "yes");
        assert_eq!(
            run(r#"{{ if and (ne .n "1") (not .e) }}a{{ else if .a }}b{{ end }}"#).unwrap(),
            "a"
        );
        assert_eq!(run(r#"{{ if .e }}a{{ else if .a }}b{{ end }}"#).unwrap(), "b");
        assert_eq!(run(r#"{{ if hasPrefix "hel" .a }}p{{ end }}"#).unwrap(), "p");
    }

    #[test]
    fn errors() {
        assert!(Template::parse("{{ .a | nope }}").is_err());
        assert!(Template::parse("{{ range .a }}{{ end }}").is_err());
        assert!(Template::parse("{{ if .a }}x").is_err());
        assert!(Template::parse("{{ .a").is_err());
        assert!(Template::parse("{{ $x := 1 }}").is_err());
        assert!(Template::parse(&format!("{{{{ {}1{} }}}}", "(".repeat(5000), ")".repeat(5000))).is_err());
        assert!(Template::parse(&"{{ if .a }}".repeat(5000)).is_err());
        assert!(run(r#"{{ if eq .n 42 }}x{{ end }}"#).is_err());
    }
}
