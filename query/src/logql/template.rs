//! The subset of Go's `text/template` that `line_format` and `label_format` users write.
//!
//! Supported: literal text; actions `{{ pipeline }}` with `{{-`/`-}}` trimming and
//! `{{/* comments */}}`; field access `.name` (labels; a missing label is `""`, as with Loki's
//! `missingkey=zero`); string, number and boolean literals; pipes (`{{ .a | ToUpper }}`, the
//! piped value becomes the last argument); parentheses; `if`/`else if`/`else`/`end`.
//! Functions: see [`FUNCTIONS`]. Anything else (`range`, `with`, variables, unknown functions)
//! is rejected when the query is parsed, never at run time.

use std::fmt::Write as _;

use regex::Regex;

use super::units::parse_go_duration;

/// The functions templates may call.
pub const FUNCTIONS: &[&str] = &[
    "ToUpper",
    "ToLower",
    "upper",
    "lower",
    "title",
    "Title",
    "trim",
    "TrimSpace",
    "Trim",
    "TrimLeft",
    "TrimRight",
    "TrimPrefix",
    "TrimSuffix",
    "trimAll",
    "trimPrefix",
    "trimSuffix",
    "replace",
    "Replace",
    "substr",
    "trunc",
    "repeat",
    "contains",
    "hasPrefix",
    "hasSuffix",
    "printf",
    "default",
    "len",
    "regexReplaceAll",
    "regexReplaceAllLiteral",
    "int",
    "float64",
    "add",
    "sub",
    "mul",
    "div",
    "mod",
    "addf",
    "subf",
    "mulf",
    "divf",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "and",
    "or",
    "not",
    "unixEpoch",
    "unixEpochMillis",
    "unixEpochNanos",
    "duration",
    "__line__",
    "__timestamp__",
];

/// A compiled template.
#[derive(Clone, Debug)]
pub struct Template {
    /// The source text.
    pub source: String,
    nodes: Vec<Node>,
    /// True when the template reads `__line__` (or is not a plain label reference).
    pub uses_line: bool,
}

#[derive(Clone, Debug)]
enum Node {
    Text(String),
    Action(Pipeline),
    If {
        cond: Pipeline,
        then: Vec<Node>,
        otherwise: Vec<Node>,
    },
}

type Pipeline = Vec<Command>;

#[derive(Clone, Debug)]
struct Command {
    args: Vec<Operand>,
}

#[derive(Clone, Debug)]
enum Operand {
    Field(String),
    Dot,
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Func(String),
    Sub(Pipeline),
}

/// Values flowing through a template.
#[derive(Clone, Debug, PartialEq)]
enum Val {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    /// A timestamp in nanoseconds (`__timestamp__`).
    Time(i64),
    Nil,
}

impl Val {
    fn truthy(&self) -> bool {
        match self {
            Val::Str(s) => !s.is_empty(),
            Val::Int(i) => *i != 0,
            Val::Float(f) => *f != 0.0,
            Val::Bool(b) => *b,
            Val::Time(_) => true,
            Val::Nil => false,
        }
    }

    fn render(&self, out: &mut String) {
        match self {
            Val::Str(s) => out.push_str(s),
            Val::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Val::Float(f) => out.push_str(&go_float(*f)),
            Val::Bool(b) => {
                let _ = write!(out, "{b}");
            }
            Val::Time(ns) => out.push_str(&go_time(*ns)),
            Val::Nil => out.push_str("<no value>"),
        }
    }

    fn to_str(&self) -> String {
        let mut s = String::new();
        self.render(&mut s);
        s
    }

    fn to_int(&self) -> Result<i64, String> {
        match self {
            Val::Int(i) => Ok(*i),
            Val::Float(f) => Ok(*f as i64),
            Val::Bool(b) => Ok(*b as i64),
            Val::Str(s) => s
                .trim()
                .parse::<i64>()
                .or_else(|_| s.trim().parse::<f64>().map(|f| f as i64))
                .map_err(|_| format!("expected integer; found {s:?}")),
            Val::Time(ns) => Ok(*ns),
            Val::Nil => Ok(0),
        }
    }

    fn to_float(&self) -> Result<f64, String> {
        match self {
            Val::Int(i) => Ok(*i as f64),
            Val::Float(f) => Ok(*f),
            Val::Bool(b) => Ok(*b as i64 as f64),
            Val::Str(s) => s
                .trim()
                .parse::<f64>()
                .map_err(|_| format!("expected number; found {s:?}")),
            Val::Time(ns) => Ok(*ns as f64),
            Val::Nil => Ok(0.0),
        }
    }
}

/// Formats a float like Go's `%v`.
pub fn go_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    let a = f.abs();
    if a != 0.0 && !(1e-4..1e21).contains(&a) {
        let s = format!("{f:e}");
        // Rust prints `1e21`; Go prints `1e+21`.
        match s.split_once('e') {
            Some((m, e)) if !e.starts_with('-') => format!("{m}e+{e:0>2}"),
            Some((m, e)) => format!("{m}e-{:0>2}", &e[1..]),
            None => s,
        }
    } else {
        format!("{f}")
    }
}

/// Formats a timestamp like Go's `time.Time.String()` in UTC.
fn go_time(ns: i64) -> String {
    let secs = ns.div_euclid(1_000_000_000);
    let nanos = ns.rem_euclid(1_000_000_000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let mut s = format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        sod / 3600,
        (sod / 60) % 60,
        sod % 60
    );
    if nanos != 0 {
        let frac = format!("{nanos:09}");
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    s.push_str(" +0000 UTC");
    s
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// What a template can read while it runs.
pub trait TemplateData {
    /// The value of a label, if present.
    fn label(&self, name: &str) -> Option<&str>;
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

impl Template {
    /// Parses `src`; the error text reads like Go's (`template: line:1: ...`).
    pub fn parse(src: &str) -> Result<Template, String> {
        let mut p = TplParser {
            src,
            pos: 0,
            uses_line: false,
            depth: 0,
        };
        let (nodes, end) = p.parse_list()?;
        if let Some(e) = end {
            return Err(format!("template: line:1: unexpected {{{{{e}}}}}"));
        }
        Ok(Template {
            source: src.to_string(),
            nodes,
            uses_line: p.uses_line,
        })
    }

    /// Runs the template, appending to `out`. Errors are Go-like execution messages.
    pub fn exec(&self, ctx: &TemplateCtx<'_>, out: &mut String) -> Result<(), String> {
        exec_nodes(&self.nodes, ctx, out)
    }
}

fn exec_nodes(nodes: &[Node], ctx: &TemplateCtx<'_>, out: &mut String) -> Result<(), String> {
    for n in nodes {
        match n {
            Node::Text(t) => out.push_str(t),
            Node::Action(p) => eval_pipeline(p, ctx)?.render(out),
            Node::If { cond, then, otherwise } => {
                if eval_pipeline(cond, ctx)?.truthy() {
                    exec_nodes(then, ctx, out)?;
                } else {
                    exec_nodes(otherwise, ctx, out)?;
                }
            }
        }
    }
    Ok(())
}

fn eval_pipeline(p: &Pipeline, ctx: &TemplateCtx<'_>) -> Result<Val, String> {
    let mut piped: Option<Val> = None;
    for cmd in p {
        piped = Some(eval_command(cmd, piped.take(), ctx)?);
    }
    Ok(piped.unwrap_or(Val::Nil))
}

fn eval_operand(o: &Operand, ctx: &TemplateCtx<'_>) -> Result<Val, String> {
    Ok(match o {
        Operand::Field(f) => Val::Str(ctx.data.label(f).unwrap_or_default().to_string()),
        Operand::Dot => Val::Nil,
        Operand::Str(s) => Val::Str(s.clone()),
        Operand::Int(i) => Val::Int(*i),
        Operand::Float(f) => Val::Float(*f),
        Operand::Bool(b) => Val::Bool(*b),
        Operand::Func(name) => call(name, Vec::new(), ctx)?,
        Operand::Sub(p) => eval_pipeline(p, ctx)?,
    })
}

fn eval_command(cmd: &Command, piped: Option<Val>, ctx: &TemplateCtx<'_>) -> Result<Val, String> {
    match cmd.args.first() {
        Some(Operand::Func(name)) => {
            let mut args = Vec::with_capacity(cmd.args.len());
            for a in &cmd.args[1..] {
                args.push(eval_operand(a, ctx)?);
            }
            args.extend(piped);
            call(name, args, ctx)
        }
        Some(o) if cmd.args.len() == 1 && piped.is_none() => eval_operand(o, ctx),
        _ => Err("can't give argument to non-function".into()),
    }
}

fn want(name: &str, args: &[Val], n: usize) -> Result<(), String> {
    if args.len() != n {
        return Err(format!("wrong number of args for {name}: want {n} got {}", args.len()));
    }
    Ok(())
}

fn s(v: &Val) -> String {
    v.to_str()
}

fn title(x: &str) -> String {
    let mut out = String::with_capacity(x.len());
    let mut prev_letter = false;
    for c in x.chars() {
        if !prev_letter && c.is_alphabetic() {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        prev_letter = c.is_alphanumeric() || c == '_' || c == '\'';
    }
    out
}

fn char_floor(s: &str, mut i: usize) -> usize {
    i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn compare(name: &str, a: &Val, b: &Val) -> Result<std::cmp::Ordering, String> {
    use std::cmp::Ordering;
    match (a, b) {
        (Val::Str(x), Val::Str(y)) => Ok(x.cmp(y)),
        (Val::Bool(x), Val::Bool(y)) if name == "eq" || name == "ne" => Ok(x.cmp(y)),
        (Val::Int(_) | Val::Float(_), Val::Int(_) | Val::Float(_)) => {
            let (x, y) = (a.to_float()?, b.to_float()?);
            Ok(x.partial_cmp(&y).unwrap_or(Ordering::Less))
        }
        _ => Err(format!("error calling {name}: incompatible types for comparison")),
    }
}

fn call(name: &str, args: Vec<Val>, ctx: &TemplateCtx<'_>) -> Result<Val, String> {
    use std::cmp::Ordering;
    let str1 = |f: fn(&str) -> String| -> Result<Val, String> {
        want(name, &args, 1)?;
        Ok(Val::Str(f(&s(&args[0]))))
    };
    Ok(match name {
        "__line__" => Val::Str(ctx.line.to_string()),
        "__timestamp__" => Val::Time(ctx.ts_ns),
        "ToUpper" | "upper" => return str1(|x| x.to_uppercase()),
        "ToLower" | "lower" => return str1(|x| x.to_lowercase()),
        "title" | "Title" => return str1(title),
        "trim" | "TrimSpace" => return str1(|x| x.trim().to_string()),
        "Trim" | "TrimLeft" | "TrimRight" => {
            want(name, &args, 2)?;
            let (x, cut) = (s(&args[0]), s(&args[1]));
            let f = |c: char| cut.contains(c);
            Val::Str(
                match name {
                    "Trim" => x.trim_matches(f),
                    "TrimLeft" => x.trim_start_matches(f),
                    _ => x.trim_end_matches(f),
                }
                .to_string(),
            )
        }
        "trimAll" => {
            want(name, &args, 2)?;
            let (cut, x) = (s(&args[0]), s(&args[1]));
            Val::Str(x.trim_matches(|c: char| cut.contains(c)).to_string())
        }
        "TrimPrefix" | "TrimSuffix" | "trimPrefix" | "trimSuffix" => {
            want(name, &args, 2)?;
            let (x, affix) = if name.starts_with('T') {
                (s(&args[0]), s(&args[1]))
            } else {
                (s(&args[1]), s(&args[0]))
            };
            let r = if name.ends_with("Prefix") {
                x.strip_prefix(affix.as_str())
            } else {
                x.strip_suffix(affix.as_str())
            };
            Val::Str(r.unwrap_or(&x).to_string())
        }
        "replace" => {
            want(name, &args, 3)?;
            Val::Str(s(&args[2]).replace(&s(&args[0]), &s(&args[1])))
        }
        "Replace" => {
            want(name, &args, 4)?;
            let (x, old, new, n) = (s(&args[0]), s(&args[1]), s(&args[2]), args[3].to_int()?);
            Val::Str(if n < 0 {
                x.replace(&old, &new)
            } else {
                x.replacen(&old, &new, n as usize)
            })
        }
        "substr" => {
            want(name, &args, 3)?;
            let (start, end, x) = (args[0].to_int()?, args[1].to_int()?, s(&args[2]));
            let r = if start < 0 {
                &x[..char_floor(&x, end.max(0) as usize)]
            } else if end < 0 || end as usize > x.len() {
                &x[char_floor(&x, start as usize)..]
            } else {
                let a = char_floor(&x, start as usize);
                let b = char_floor(&x, end as usize).max(a);
                &x[a..b]
            };
            Val::Str(r.to_string())
        }
        "trunc" => {
            want(name, &args, 2)?;
            let (n, x) = (args[0].to_int()?, s(&args[1]));
            let r = if n < 0 {
                let from = x.len().saturating_sub(n.unsigned_abs() as usize);
                let mut i = from;
                while !x.is_char_boundary(i) {
                    i += 1;
                }
                &x[i..]
            } else {
                &x[..char_floor(&x, n as usize)]
            };
            Val::Str(r.to_string())
        }
        "repeat" => {
            want(name, &args, 2)?;
            let n = args[0].to_int()?.clamp(0, 10_000) as usize;
            Val::Str(s(&args[1]).repeat(n))
        }
        "contains" => {
            want(name, &args, 2)?;
            Val::Bool(s(&args[1]).contains(&s(&args[0])))
        }
        "hasPrefix" => {
            want(name, &args, 2)?;
            Val::Bool(s(&args[1]).starts_with(&s(&args[0])))
        }
        "hasSuffix" => {
            want(name, &args, 2)?;
            Val::Bool(s(&args[1]).ends_with(&s(&args[0])))
        }
        "printf" => {
            if args.is_empty() {
                return Err("wrong number of args for printf: want at least 1 got 0".into());
            }
            Val::Str(printf(&s(&args[0]), &args[1..]))
        }
        "default" => {
            want(name, &args, 2)?;
            if args[1].truthy() {
                args[1].clone()
            } else {
                args[0].clone()
            }
        }
        "len" => {
            want(name, &args, 1)?;
            Val::Int(s(&args[0]).len() as i64)
        }
        "regexReplaceAll" | "regexReplaceAllLiteral" => {
            want(name, &args, 3)?;
            let re = Regex::new(&s(&args[0])).map_err(|e| format!("error calling {name}: {e}"))?;
            let (x, repl) = (s(&args[1]), s(&args[2]));
            Val::Str(if name == "regexReplaceAll" {
                re.replace_all(&x, go_expand_template(&repl).as_str()).into_owned()
            } else {
                re.replace_all(&x, regex::NoExpand(&repl)).into_owned()
            })
        }
        "int" => {
            want(name, &args, 1)?;
            Val::Int(args[0].to_int().unwrap_or(0))
        }
        "float64" => {
            want(name, &args, 1)?;
            Val::Float(args[0].to_float().unwrap_or(0.0))
        }
        "add" | "sub" | "mul" | "div" | "mod" => {
            want(name, &args, 2)?;
            let (a, b) = (args[0].to_int()?, args[1].to_int()?);
            Val::Int(match name {
                "add" => a.wrapping_add(b),
                "sub" => a.wrapping_sub(b),
                "mul" => a.wrapping_mul(b),
                _ if b == 0 => return Err(format!("error calling {name}: integer divide by zero")),
                "div" => a.wrapping_div(b),
                _ => a.wrapping_rem(b),
            })
        }
        "addf" | "subf" | "mulf" | "divf" => {
            want(name, &args, 2)?;
            let (a, b) = (args[0].to_float()?, args[1].to_float()?);
            Val::Float(match name {
                "addf" => a + b,
                "subf" => a - b,
                "mulf" => a * b,
                _ => a / b,
            })
        }
        "eq" => {
            if args.len() < 2 {
                return Err("missing argument for comparison".into());
            }
            let mut any = false;
            for b in &args[1..] {
                any |= compare(name, &args[0], b)? == Ordering::Equal;
            }
            Val::Bool(any)
        }
        "ne" | "lt" | "le" | "gt" | "ge" => {
            want(name, &args, 2)?;
            let o = compare(name, &args[0], &args[1])?;
            Val::Bool(match name {
                "ne" => o != Ordering::Equal,
                "lt" => o == Ordering::Less,
                "le" => o != Ordering::Greater,
                "gt" => o == Ordering::Greater,
                _ => o != Ordering::Less,
            })
        }
        "and" | "or" => {
            if args.is_empty() {
                return Err(format!("wrong number of args for {name}: want at least 1 got 0"));
            }
            let stop = |v: &Val| if name == "and" { !v.truthy() } else { v.truthy() };
            let last = args.len() - 1;
            let i = args.iter().position(stop).unwrap_or(last);
            args[i].clone()
        }
        "not" => {
            want(name, &args, 1)?;
            Val::Bool(!args[0].truthy())
        }
        "unixEpoch" | "unixEpochMillis" | "unixEpochNanos" => {
            want(name, &args, 1)?;
            let ns = match &args[0] {
                Val::Time(ns) => *ns,
                v => return Err(format!("error calling {name}: expected time, found {}", v.to_str())),
            };
            Val::Str(
                match name {
                    "unixEpoch" => ns.div_euclid(1_000_000_000),
                    "unixEpochMillis" => ns.div_euclid(1_000_000),
                    _ => ns,
                }
                .to_string(),
            )
        }
        "duration" => {
            want(name, &args, 1)?;
            let d = parse_go_duration(&s(&args[0])).map_err(|e| format!("error calling duration: {e}"))?;
            Val::Float(d as f64 / 1e9)
        }
        _ => return Err(format!("function {name:?} not defined")),
    })
}

/// Converts Go's `${1}`/`$1`/`$name` expansion syntax to the regex crate's (which is the same
/// except that `$1a` means group `1a` in Rust but group `1` followed by `a` in Go... both treat
/// the longest name; they agree), so this only guards against `$$`.
fn go_expand_template(repl: &str) -> String {
    repl.to_string()
}

/// A small `fmt.Sprintf`: `%s %v %d %f %q %x %%` with optional width/precision.
fn printf(fmt: &str, args: &[Val]) -> String {
    let mut out = String::new();
    let mut it = fmt.chars().peekable();
    let mut ai = 0;
    while let Some(c) = it.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = String::new();
        while let Some(&n) = it.peek() {
            if n.is_ascii_digit() || n == '.' || n == '-' || n == '+' || n == ' ' || n == '0' {
                spec.push(n);
                it.next();
            } else {
                break;
            }
        }
        let Some(verb) = it.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.get(ai) else {
            let _ = write!(out, "%!{verb}(MISSING)");
            continue;
        };
        ai += 1;
        let (left, rest) = match spec.strip_prefix('-') {
            Some(r) => (true, r.to_string()),
            None => (false, spec.clone()),
        };
        let (width, prec) = match rest.split_once('.') {
            Some((w, p)) => (w.parse::<usize>().ok(), p.parse::<usize>().ok().or(Some(0))),
            None => (rest.parse::<usize>().ok(), None),
        };
        let body = match verb {
            'd' => match arg.to_int() {
                Ok(i) => i.to_string(),
                Err(_) => format!("%!d(string={})", arg.to_str()),
            },
            'f' | 'F' => match arg.to_float() {
                Ok(f) => format!("{:.*}", prec.unwrap_or(6), f),
                Err(_) => format!("%!f(string={})", arg.to_str()),
            },
            'q' => format!("{:?}", arg.to_str()),
            'x' => match arg {
                Val::Int(i) => format!("{i:x}"),
                v => v.to_str().bytes().map(|b| format!("{b:02x}")).collect(),
            },
            's' | 'v' => {
                let mut x = arg.to_str();
                if let Some(p) = prec {
                    x = x.chars().take(p).collect();
                }
                x
            }
            _ => format!("%!{verb}({})", arg.to_str()),
        };
        let pad = width.unwrap_or(0).saturating_sub(body.chars().count());
        if left {
            out.push_str(&body);
            out.extend(std::iter::repeat_n(' ', pad));
        } else {
            out.extend(std::iter::repeat_n(' ', pad));
            out.push_str(&body);
        }
    }
    if ai < args.len() {
        out.push_str("%!(EXTRA ");
        let extra: Vec<String> = args[ai..].iter().map(|a| a.to_str()).collect();
        out.push_str(&extra.join(", "));
        out.push(')');
    }
    out
}

struct TplParser<'a> {
    src: &'a str,
    pos: usize,
    uses_line: bool,
    /// Nesting of `if` and parentheses, bounded so hostile templates cannot overflow the stack.
    depth: usize,
}

const MAX_TEMPLATE_DEPTH: usize = 64;

impl TplParser<'_> {
    fn rest(&self) -> &str {
        &self.src[self.pos..]
    }

    /// Parses nodes until `{{end}}`/`{{else ...}}` or the end; returns the terminating keyword
    /// action text (e.g. `end`, `else`, `else if x`).
    fn parse_list(&mut self) -> Result<(Vec<Node>, Option<String>), String> {
        let mut nodes = Vec::new();
        loop {
            let Some(open) = self.rest().find("{{") else {
                let t = self.rest().to_string();
                if !t.is_empty() {
                    nodes.push(Node::Text(t));
                }
                self.pos = self.src.len();
                return Ok((nodes, None));
            };
            let mut text = self.rest()[..open].to_string();
            self.pos += open + 2;
            if self.rest().starts_with("- ") || self.rest().starts_with("-\t") || self.rest().starts_with("-\n") {
                text.truncate(text.trim_end().len());
                self.pos += 1;
            }
            if !text.is_empty() {
                nodes.push(Node::Text(text));
            }
            let close = self.rest().find("}}").ok_or("template: line:1: unclosed action")?;
            let mut inner = &self.rest()[..close];
            let mut trim_after = false;
            if let Some(x) = inner.strip_suffix(" -").or_else(|| inner.strip_suffix("\t-")) {
                inner = x;
                trim_after = true;
            }
            let inner = inner.trim().to_string();
            self.pos += close + 2;
            if trim_after {
                let r = self.rest();
                self.pos += r.len() - r.trim_start().len();
            }
            if inner.starts_with("/*") {
                if !inner.ends_with("*/") {
                    return Err("template: line:1: unclosed comment".into());
                }
                continue;
            }
            let (kw, arg) = match inner.split_once(char::is_whitespace) {
                Some((k, a)) => (k, a.trim()),
                None => (inner.as_str(), ""),
            };
            match kw {
                "end" | "else" => return Ok((nodes, Some(inner.clone()))),
                "if" => nodes.push(self.parse_if(arg)?),
                "range" | "with" | "define" | "template" | "block" | "break" | "continue" => {
                    return Err(format!("template: line:1: {kw:?} is not supported by LogQL templates"));
                }
                _ => nodes.push(Node::Action(self.parse_pipeline(&inner)?)),
            }
        }
    }

    fn parse_if(&mut self, cond_src: &str) -> Result<Node, String> {
        self.depth += 1;
        if self.depth > MAX_TEMPLATE_DEPTH {
            return Err("template: line:1: nested too deeply".into());
        }
        let r = self.parse_if_inner(cond_src);
        self.depth -= 1;
        r
    }

    fn parse_if_inner(&mut self, cond_src: &str) -> Result<Node, String> {
        if cond_src.is_empty() {
            return Err("template: line:1: missing value for if".into());
        }
        let cond = self.parse_pipeline(cond_src)?;
        let (then, end) = self.parse_list()?;
        let otherwise = match end.as_deref() {
            Some("end") => Vec::new(),
            Some("else") => {
                let (o, end) = self.parse_list()?;
                if end.as_deref() != Some("end") {
                    return Err("template: line:1: unexpected EOF".into());
                }
                o
            }
            Some(e) if e.starts_with("else") => {
                let rest = e["else".len()..].trim();
                let Some(c) = rest.strip_prefix("if") else {
                    return Err(format!("template: line:1: unexpected {{{{{e}}}}}"));
                };
                vec![self.parse_if(c.trim())?]
            }
            _ => return Err("template: line:1: unexpected EOF".into()),
        };
        Ok(Node::If { cond, then, otherwise })
    }

    fn parse_pipeline(&mut self, src: &str) -> Result<Pipeline, String> {
        let toks = tpl_tokens(src)?;
        let mut pos = 0;
        let p = self.pipeline_from(&toks, &mut pos)?;
        if pos != toks.len() {
            return Err(format!("template: line:1: unexpected {:?} in operand", toks[pos]));
        }
        Ok(p)
    }

    fn pipeline_from(&mut self, toks: &[TplTok], pos: &mut usize) -> Result<Pipeline, String> {
        self.depth += 1;
        if self.depth > MAX_TEMPLATE_DEPTH {
            return Err("template: line:1: nested too deeply".into());
        }
        let r = self.pipeline_from_inner(toks, pos);
        self.depth -= 1;
        r
    }

    fn pipeline_from_inner(&mut self, toks: &[TplTok], pos: &mut usize) -> Result<Pipeline, String> {
        let mut cmds = Vec::new();
        loop {
            let mut args = Vec::new();
            while let Some(t) = toks.get(*pos) {
                let op = match t {
                    TplTok::Pipe | TplTok::Close => break,
                    TplTok::Open => {
                        *pos += 1;
                        let p = self.pipeline_from(toks, pos)?;
                        if toks.get(*pos) != Some(&TplTok::Close) {
                            return Err("template: line:1: unclosed left paren".into());
                        }
                        Operand::Sub(p)
                    }
                    TplTok::Field(f) => Operand::Field(f.clone()),
                    TplTok::Dot => Operand::Dot,
                    TplTok::Str(s) => Operand::Str(s.clone()),
                    TplTok::Num(n) => match n.parse::<i64>() {
                        Ok(i) => Operand::Int(i),
                        Err(_) => Operand::Float(n.parse().map_err(|_| format!("template: line:1: bad number {n}"))?),
                    },
                    TplTok::Word(w) => match w.as_str() {
                        "true" => Operand::Bool(true),
                        "false" => Operand::Bool(false),
                        w if FUNCTIONS.contains(&w) => {
                            if w == "__line__" {
                                self.uses_line = true;
                            }
                            Operand::Func(w.to_string())
                        }
                        w => return Err(format!("template: line:1: function {w:?} not defined")),
                    },
                };
                args.push(op);
                *pos += 1;
            }
            if args.is_empty() {
                return Err("template: line:1: missing value for command".into());
            }
            if args.len() > 1 && !matches!(args[0], Operand::Func(_)) {
                return Err("template: line:1: can't give argument to non-function".into());
            }
            if !cmds.is_empty() && !matches!(args[0], Operand::Func(_)) {
                return Err("template: line:1: non executable command in pipeline stage 2".into());
            }
            cmds.push(Command { args });
            match toks.get(*pos) {
                Some(TplTok::Pipe) => *pos += 1,
                _ => return Ok(cmds),
            }
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
enum TplTok {
    Field(String),
    Dot,
    Str(String),
    Num(String),
    Word(String),
    Pipe,
    Open,
    Close,
}

fn tpl_tokens(src: &str) -> Result<Vec<TplTok>, String> {
    let chars: Vec<char> = src.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    let ident = |c: char| c.is_alphanumeric() || c == '_';
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '|' => {
                out.push(TplTok::Pipe);
                i += 1;
            }
            '(' => {
                out.push(TplTok::Open);
                i += 1;
            }
            ')' => {
                out.push(TplTok::Close);
                i += 1;
            }
            '.' => {
                i += 1;
                let start = i;
                while i < chars.len() && ident(chars[i]) {
                    i += 1;
                }
                if i < chars.len() && chars[i] == '.' {
                    return Err("template: line:1: nested field access is not supported".into());
                }
                if start == i {
                    out.push(TplTok::Dot);
                } else {
                    out.push(TplTok::Field(chars[start..i].iter().collect()));
                }
            }
            '"' => {
                i += 1;
                let mut s = String::new();
                loop {
                    let Some(&c) = chars.get(i) else {
                        return Err("template: line:1: unterminated quoted string".into());
                    };
                    i += 1;
                    match c {
                        '"' => break,
                        '\\' => {
                            let e = chars
                                .get(i)
                                .copied()
                                .ok_or("template: line:1: unterminated quoted string")?;
                            i += 1;
                            s.push(match e {
                                'n' => '\n',
                                't' => '\t',
                                'r' => '\r',
                                '\\' => '\\',
                                '"' => '"',
                                _ => return Err("template: line:1: invalid syntax".into()),
                            });
                        }
                        c => s.push(c),
                    }
                }
                out.push(TplTok::Str(s));
            }
            '`' => {
                i += 1;
                let start = i;
                while i < chars.len() && chars[i] != '`' {
                    i += 1;
                }
                if i >= chars.len() {
                    return Err("template: line:1: unterminated raw quoted string".into());
                }
                out.push(TplTok::Str(chars[start..i].iter().collect()));
                i += 1;
            }
            c if c.is_ascii_digit() || c == '-' || c == '+' => {
                let start = i;
                i += 1;
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                    i += 1;
                }
                out.push(TplTok::Num(chars[start..i].iter().collect()));
            }
            c if ident(c) => {
                let start = i;
                while i < chars.len() && ident(chars[i]) {
                    i += 1;
                }
                out.push(TplTok::Word(chars[start..i].iter().collect()));
            }
            '$' => return Err("template: line:1: variables are not supported by LogQL templates".into()),
            c => return Err(format!("template: line:1: unexpected {c:?} in command")),
        }
    }
    Ok(out)
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
    }

    fn run(t: &str) -> Result<String, String> {
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
