//! The engine with a small test dialect: dialect options, root-field resolution through the
//! environment, built-ins, and `printf`.

use std::borrow::Cow;
use std::collections::BTreeMap;

use super::*;

static FULL: Dialect = Dialect {
    functions: &["upper", "len"],
    predefined_vars: &["v"],
    variables: true,
    rejected_keywords: &[],
    label: "test templates",
    typed_comparison_errors: false,
    first_line_col_offset: 0,
};

static RESTRICTED: Dialect = Dialect {
    functions: &[],
    predefined_vars: &[],
    variables: false,
    rejected_keywords: &["range", "define"],
    label: "restricted templates",
    typed_comparison_errors: true,
    first_line_col_offset: 10,
};

/// Root fields come from a flat map, as LogQL's labels do.
struct Flat(BTreeMap<&'static str, &'static str>);

impl Env for Flat {
    fn field(&self, name: &str) -> Cow<'_, Value> {
        Cow::Owned(Value::Str(self.0.get(name).copied().unwrap_or_default().to_owned()))
    }

    fn root(&self) -> Value {
        Value::Map(
            self.0
                .iter()
                .map(|(k, v)| ((*k).to_owned(), Value::Str((*v).to_owned())))
                .collect(),
        )
    }

    fn vars(&self) -> Vec<(String, Value)> {
        vec![("v".to_owned(), Value::Float(1.5e6))]
    }

    fn call(&self, name: &str, args: Vec<Value>) -> Result<Value, FuncError> {
        want_args(name, &args, 1)?;
        match (name, &args[0]) {
            ("upper", Value::Str(s)) => Ok(Value::Str(s.to_uppercase())),
            // Overrides the built-in `len`: counts characters.
            ("len", Value::Str(s)) => Ok(Value::Int(s.chars().count() as i64)),
            (_, other) => Err(FuncError::Type {
                name: name.to_owned(),
                expected: "string",
                got: other.type_name(),
            }),
        }
    }
}

fn run(dialect: &'static Dialect, src: &str) -> Result<String, TemplateError> {
    let env = Flat(BTreeMap::from([("a", "héllo"), ("n", "42")]));
    let t = Template::parse("t", src, dialect)?;
    let mut out = String::new();
    t.execute(&env, &mut out)?;
    Ok(out)
}

#[test]
fn fields_variables_and_dialect_functions() {
    assert_eq!(
        run(&FULL, "{{ .a | upper }} {{ .missing }}|{{ $v }}").unwrap(),
        "HÉLLO |1.5e+06"
    );
    assert_eq!(
        run(&FULL, "{{ len .a }} {{ with .n }}{{ . }}{{ end }}").unwrap(),
        "5 42"
    );
    assert_eq!(
        run(&FULL, "{{ range $k, $x := . }}{{ $k }}={{ $x }};{{ end }}").unwrap(),
        "a=héllo;n=42;"
    );
    assert_eq!(
        run(&FULL, "{{ index . \"n\" }} {{ print 1 2 \"x\" }}").unwrap(),
        "42 1 2x"
    );
    let e = run(&FULL, "{{ upper 1 }}").unwrap_err();
    assert_eq!(
        e.to_string(),
        "template: t:1:3: executing \"t\" at <upper 1>: error calling upper: wrong type for value; \
         expected string; got int (in upper)"
    );
    let e = run(&FULL, "{{ .a.b }}").unwrap_err().to_string();
    assert!(e.ends_with("can't evaluate field b in type string"), "{e}");
}

#[test]
fn dialect_refusals_and_error_columns() {
    let e = run(&RESTRICTED, "x {{ range .a }}{{ end }}").unwrap_err();
    assert_eq!(
        e.to_string(),
        "template: t:1: \"range\" is not supported by restricted templates"
    );
    let e = run(&RESTRICTED, "{{ $x := 1 }}").unwrap_err();
    assert_eq!(
        e.to_string(),
        "template: t:1: variables are not supported by restricted templates"
    );
    let e = run(&RESTRICTED, "{{ upper .a }}").unwrap_err();
    assert_eq!(e.to_string(), "template: t:1: function \"upper\" not defined");
    // The built-in `len`, and the first-line column offset.
    assert_eq!(run(&RESTRICTED, "{{ len .a }}").unwrap(), "6");
    let e = run(&RESTRICTED, "{{ eq .n 42 }}").unwrap_err();
    assert!(matches!(e, TemplateError::Exec { line: 1, col: 13, .. }), "{e:?}");
    let e = run(&RESTRICTED, "\n {{ eq .n 42 }}").unwrap_err();
    assert!(matches!(e, TemplateError::Exec { line: 2, col: 4, .. }), "{e:?}");
    assert_eq!(run(&RESTRICTED, "{{ . }}").unwrap(), "map[a:héllo n:42]");
}

#[test]
fn printf_like_go() {
    assert_eq!(
        sprintf(
            "%.2f|%5s|%-3d|%d%%|%s",
            &[
                Value::Float(1.23456),
                Value::Str("ab".into()),
                Value::Int(7),
                Value::Int(50),
                Value::Float(2.0)
            ]
        ),
        "1.23|   ab|7  |50%|%!s(float64=2)"
    );
    assert_eq!(sprintf("%05.1f", &[Value::Float(-2.5)]), "-02.5");
    assert_eq!(
        sprintf("%s|%v", &[Value::Float(1.5), Value::Float(1.5)]),
        "%!s(float64=1.5)|1.5"
    );
    assert_eq!(sprintf("%d %d", &[Value::Int(1)]), "1 %!d(MISSING)");
    assert_eq!(sprintf("%v %g", &[Value::Float(2e6), Value::Float(2e6)]), "2e+06 2e+06");
    assert_eq!(
        sprintf("%.3e|%e", &[Value::Float(1234.5), Value::Float(f64::NAN)]),
        "1.234e+03|NaN"
    );
    assert_eq!(
        sprintf("%d", &[Value::Int(1), Value::Str("x".into())]),
        "1%!(EXTRA string=x)"
    );
}
