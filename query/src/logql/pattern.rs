//! Loki's pattern expressions (`<ip> - <_> [<ts>] "<method> <path>"`): literal text with
//! `<name>` captures and `<_>` wildcards. Used by the `| pattern` parser and the `|>` / `!>`
//! line filters.
//!
//! Matching is Loki's: a leading literal must start the line; each capture runs up to the next
//! occurrence of the following literal; when a literal is missing, the capture takes the rest
//! of the line and matching stops (captures found so far are kept).

/// One element of a pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Node {
    Literal(String),
    /// A capture; `None` is the unnamed `<_>`.
    Capture(Option<String>),
}

/// A compiled pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pattern {
    nodes: Vec<Node>,
    names: Vec<String>,
}

fn is_name(s: &str) -> bool {
    let mut c = s.chars();
    c.next().is_some_and(|f| f.is_ascii_alphabetic() || f == '_') && c.all(|x| x.is_ascii_alphanumeric() || x == '_')
}

impl Pattern {
    /// Parses a pattern; `need_named` requires at least one named capture (the parser stage).
    pub fn new(src: &str, need_named: bool) -> Result<Pattern, String> {
        let mut nodes: Vec<Node> = Vec::new();
        let mut lit = String::new();
        let mut rest = src;
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix('<')
                && let Some(end) = after.find('>')
                && is_name(&after[..end])
            {
                if !lit.is_empty() {
                    nodes.push(Node::Literal(std::mem::take(&mut lit)));
                }
                if matches!(nodes.last(), Some(Node::Capture(_))) {
                    return Err("found consecutive capture: invalid expression".into());
                }
                let name = &after[..end];
                nodes.push(Node::Capture((name != "_").then(|| name.to_string())));
                rest = &after[end + 1..];
                continue;
            }
            let mut it = rest.chars();
            if let Some(c) = it.next() {
                lit.push(c);
            }
            rest = it.as_str();
        }
        if !lit.is_empty() {
            nodes.push(Node::Literal(lit));
        }
        let mut names: Vec<String> = Vec::new();
        for n in &nodes {
            if let Node::Capture(Some(name)) = n {
                if names.contains(name) {
                    return Err(format!("duplicate capture name ({name}): invalid expression"));
                }
                names.push(name.clone());
            }
        }
        if need_named && names.is_empty() {
            return Err("at least one capture is required".into());
        }
        if !need_named && !nodes.iter().any(|n| matches!(n, Node::Capture(_))) && nodes.is_empty() {
            return Err("at least one capture is required".into());
        }
        Ok(Pattern { nodes, names })
    }

    /// The names of the named captures, in order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Captured values, paired with their names, as the `| pattern` stage extracts them.
    pub fn captures<'a>(&'a self, line: &'a str) -> Vec<(&'a str, &'a str)> {
        let mut out = Vec::new();
        if line.is_empty() || self.nodes.is_empty() {
            return out;
        }
        let mut nodes = &self.nodes[..];
        let mut input = line;
        if let Some(Node::Literal(l)) = nodes.first() {
            if !input.starts_with(l.as_str()) {
                return out;
            }
            input = &input[l.len()..];
            nodes = &nodes[1..];
        }
        while let Some(Node::Capture(name)) = nodes.first() {
            let Some(Node::Literal(l)) = nodes.get(1) else {
                // Ends on a capture: it takes the rest of the line.
                if let Some(n) = name {
                    out.push((n.as_str(), input));
                }
                return out;
            };
            nodes = &nodes[2..];
            match input.find(l.as_str()) {
                None => {
                    if let Some(n) = name {
                        out.push((n.as_str(), input));
                    }
                    return out;
                }
                Some(i) => {
                    if let Some(n) = name {
                        out.push((n.as_str(), &input[..i]));
                    }
                    input = &input[i + l.len()..];
                }
            }
        }
        out
    }

    /// Whether a line matches, with the semantics of the `|>` line filter: literals appear in
    /// order with non-empty text between them, a trailing literal ends the line and a
    /// trailing capture is non-empty.
    pub fn test(&self, line: &str) -> bool {
        if line.is_empty() || self.nodes.is_empty() {
            return line.is_empty() && self.nodes.is_empty();
        }
        let mut off = 0;
        for (i, n) in self.nodes.iter().enumerate() {
            let Node::Literal(l) = n else { continue };
            match line[off..].find(l.as_str()) {
                None => return false,
                Some(0) if i != 0 => return false,
                Some(j) => off += j + l.len(),
            }
        }
        let ends_on_capture = matches!(self.nodes.last(), Some(Node::Capture(_)));
        ends_on_capture == (off != line.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nginx() {
        let p = Pattern::new(r#"<ip> - <_> [<ts>] "<method> <path> <_>" <status> <size>"#, true).unwrap();
        let line = r#"10.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "GET /a.gif HTTP/1.0" 200 2326"#;
        assert_eq!(
            p.captures(line),
            vec![
                ("ip", "10.0.0.1"),
                ("ts", "10/Oct/2000:13:55:36 -0700"),
                ("method", "GET"),
                ("path", "/a.gif"),
                ("status", "200"),
                ("size", "2326")
            ]
        );
    }

    #[test]
    fn partial_and_errors() {
        let p = Pattern::new("<a> x <b> y", true).unwrap();
        assert_eq!(p.captures("1 x 2"), vec![("a", "1"), ("b", "2")]);
        assert!(Pattern::new("<a><b>", true).is_err());
        assert!(Pattern::new("<_> foo", true).is_err());
        assert!(Pattern::new("<a> <a>", true).is_err());
        let f = Pattern::new("<_> bar <_>", false).unwrap();
        assert!(f.test("foo bar baz"));
        assert!(!f.test("foo bar "));
        assert!(!Pattern::new("<_> bar", false).unwrap().test("foo bar baz"));
    }
}
