//! Property tests: random queries and lines never panic, and `|=` pushdown into the source
//! gives the same results as filtering everything in the pipeline (brute force).

use std::ops::ControlFlow;

use nerve_query::logql::{
    Direction, EntryView, Limits, LogSource, LogValue, MemSource, Select, eval_instant, eval_range, parse,
    pushdown_contains,
};
use nerve_storage::Labels;
use proptest::prelude::*;

const S: i64 = 1_000_000_000;

/// A source that ignores `contains`, so the pipeline alone does the filtering.
struct NoPushdown<'a>(&'a MemSource);

impl LogSource for NoPushdown<'_> {
    fn select(&self, req: &Select, visit: &mut dyn FnMut(EntryView<'_>) -> ControlFlow<()>) -> nerve_query::Result<()> {
        let req = Select {
            contains: Vec::new(),
            ..req.clone()
        };
        self.0.select(&req, visit)
    }
}

fn source(lines: &[String]) -> MemSource {
    let mut m = MemSource::new();
    for (i, l) in lines.iter().enumerate() {
        let app = if i % 2 == 0 { "a" } else { "b" };
        m.push_lines(
            Labels::from_pairs([("app", app), ("job", "j")]).unwrap(),
            [((i as i64 + 1) * S, l.as_str())],
        );
    }
    m
}

const FRAGMENTS: &[&str] = &[
    "{",
    "}",
    "(",
    ")",
    "[1m]",
    "[5s]",
    ",",
    "app",
    "=",
    "!=",
    "=~",
    "!~",
    "\"a\"",
    "\"x.*\"",
    "`b`",
    "|=",
    "|~",
    "!=",
    "|>",
    "\"<_> a <_>\"",
    "|",
    "json",
    "logfmt",
    "--strict",
    "regexp",
    "\"(?P<x>\\\\w+)\"",
    "pattern",
    "\"<x> <_>\"",
    "unpack",
    "line_format",
    "\"{{.x}}{{ __line__ | ToUpper }}\"",
    "label_format",
    "y=x",
    "drop",
    "keep",
    "x",
    "y",
    "decolorize",
    "unwrap",
    "duration(x)",
    "bytes(x)",
    "x > 1",
    "x == 2",
    "x > 10ms",
    "x < 1KB",
    "and",
    "or",
    "unless",
    "rate",
    "count_over_time",
    "sum_over_time",
    "quantile_over_time",
    "0.5",
    "sum",
    "topk",
    "2",
    "by",
    "without",
    "(app)",
    "offset",
    "1m",
    "+",
    "-",
    "*",
    "/",
    "%",
    "^",
    ">",
    "bool",
    "on",
    "ignoring",
    "group_left",
    "vector",
    "label_replace",
    "sort",
    "sort_desc",
    "absent_over_time",
    "__error__=\"\"",
    "1",
    "#",
    "\n",
];

fn query_strategy() -> impl Strategy<Value = String> {
    let frag = prop::sample::select(FRAGMENTS).prop_map(str::to_string);
    let junk = "[ -~]{0,4}";
    prop::collection::vec(prop_oneof![8 => frag, 1 => junk], 0..24).prop_map(|v| v.join(" "))
}

fn line_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-c x=\"{}:,0-9]{0,30}",
        r#"\{"x":"[a-c]{0,3}","y":[0-9]{1,3},"z":\{"w":"a"\}\}"#,
        "x=[0-9]{1,2}(ms|KB)? y=[a-c]{1,3}",
        any::<String>(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn random_queries_never_panic(q in query_strategy(), lines in prop::collection::vec(line_strategy(), 0..8)) {
        let m = source(&lines);
        let _ = parse(&q);
        let _ = eval_range(&m, &q, 0, 20 * S, 3 * S, Some(S), 5, Direction::Backward, &Limits::default());
        let _ = eval_instant(&m, &q, 10 * S, 5, Direction::Forward, &Limits::default());
    }

    #[test]
    fn wellformed_pipelines_never_panic(
        stages in prop::collection::vec(prop::sample::select(&[
            "| json", "| logfmt", "| logfmt --strict --keep-empty", "| unpack", "| regexp \"(?P<x>[0-9]+)\"",
            "| pattern \"<x> <y>\"", "| x > 5", "| x > 10ms", "| x >= 1KB", "| y =~ \"a.*\"", "| __error__=\"\"",
            "| line_format \"{{.x}}-{{.y}}\"", "| label_format z=\"{{.x | ToUpper}}\"", "| drop y", "| keep x, app",
            "| decolorize", "|= \"a\"", "!= \"b\"", "|~ \"[0-9]\"", "|> \"<_>=<_>\"",
        ][..]), 0..6),
        lines in prop::collection::vec(line_strategy(), 0..10),
    ) {
        let m = source(&lines);
        let pipeline = stages.join(" ");
        let q = format!(r#"{{app=~"a|b"}} {pipeline}"#);
        prop_assert!(parse(&q).is_ok(), "{}", q);
        prop_assert!(eval_range(&m, &q, 0, 20 * S, S, None, 0, Direction::Forward, &Limits::default()).is_ok());
        for agg in ["count_over_time", "bytes_rate"] {
            let mq = format!(r#"sum by (app) ({agg}({q} | drop __error__, __error_details__ [5s]))"#);
            prop_assert!(eval_range(&m, &mq, 0, 20 * S, S, None, 0, Direction::Forward, &Limits::default()).is_ok(), "{}", mq);
        }
        let uq = format!(r#"sum_over_time({q} | unwrap x | __error__="" [5s])"#);
        let _ = eval_instant(&m, &uq, 10 * S, 0, Direction::Forward, &Limits::default());
    }

    #[test]
    fn pushdown_equals_brute_force(
        lines in prop::collection::vec("[abc ]{0,8}", 0..20),
        needles in prop::collection::vec("[abc]{1,2}", 1..3),
        dir in prop::bool::ANY,
    ) {
        let m = source(&lines);
        let filters: Vec<String> = needles.iter().map(|n| format!("|= \"{n}\"")).collect();
        let q = format!(r#"{{job="j"}} {} | line_format "{{{{.app}}}}:{{{{ __line__ }}}}""#, filters.join(" "));
        let expr = parse(&q).unwrap();
        prop_assert_eq!(pushdown_contains(&expr), {
            let mut v = needles.clone();
            v.dedup();
            let mut seen = Vec::new();
            v.retain(|n| if seen.contains(n) { false } else { seen.push(n.clone()); true });
            v
        });
        let dir = if dir { Direction::Forward } else { Direction::Backward };
        let run = |src: &dyn LogSource| eval_range(src, &q, 0, 30 * S, S, None, 7, dir, &Limits::default()).unwrap();
        let pushed = run(&m);
        let brute = run(&NoPushdown(&m));
        prop_assert_eq!(&pushed, &brute);
        // And both equal plain substring filtering of the raw lines.
        let LogValue::Streams(got) = pushed else { panic!() };
        let mut expected: Vec<(i64, String)> = lines
            .iter()
            .enumerate()
            .filter(|(_, l)| needles.iter().all(|n| l.contains(n.as_str())))
            .map(|(i, l)| ((i as i64 + 1) * S, format!("{}:{l}", if i % 2 == 0 { "a" } else { "b" })))
            .collect();
        if dir == Direction::Backward {
            expected.reverse();
        }
        expected.truncate(7);
        let got: Vec<(i64, String)> = got.into_iter().map(|l| (l.ts_ns, l.line)).collect();
        prop_assert_eq!(got, expected);
        let mq = format!(r#"sum(count_over_time({{job="j"}} {} [1m]))"#, filters.join(" "));
        let a = eval_instant(&m, &mq, 25 * S, 0, dir, &Limits::default()).unwrap();
        let b = eval_instant(&NoPushdown(&m), &mq, 25 * S, 0, dir, &Limits::default()).unwrap();
        prop_assert_eq!(a, b);
    }
}

#[test]
fn pushdown_rules() {
    let p = |q: &str| pushdown_contains(&parse(q).unwrap());
    assert_eq!(p(r#"{a="b"} |= "x" | json | y="z" |= "w""#), vec!["x", "w"]);
    assert_eq!(p(r#"{a="b"} |= "x" or "y""#), Vec::<String>::new());
    assert_eq!(p(r#"{a="b"} |= "x" | line_format "{{.a}}" |= "w""#), vec!["x"]);
    assert_eq!(p(r#"{a="b"} |= "x" | unpack |= "w""#), vec!["x"]);
    assert_eq!(p(r#"{a="b"} |= "" != "q""#), Vec::<String>::new());
    assert_eq!(
        p(r#"count_over_time({a="b"} |= "x" |= "y" [1m]) / count_over_time({a="b"} |= "x" [1m])"#),
        vec!["x"]
    );
}
