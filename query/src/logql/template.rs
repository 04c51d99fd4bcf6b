//! The subset of Go's `text/template` that `line_format` and `label_format` users write.
//!
//! Supported: literal text; actions `{{ pipeline }}` with `{{-`/`-}}` trimming and
//! `{{/* comments */}}`; field access `.name` (labels; a missing label is `""`, as with Loki's
//! `missingkey=zero`); string, number and boolean literals; pipes (`{{ .a | ToUpper }}`, the
//! piped value becomes the last argument); parentheses; `if`/`else if`/`else`/`end`.
//! Functions: see [`FUNCTIONS`]. Anything else (`range`, `with`, variables, unknown functions)
//! is rejected when the query is parsed, never at run time.

pub use super::template_funcs::FUNCTIONS;
use super::template_funcs::{Val, call};

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
