//! Property tests of issue #21 item 1: deeply nested and very long PromQL, LogQL and TraceQL
//! text is answered with an error, never a panic or a stack overflow (which would abort this
//! test process). The tests run on the test harness's 2 MiB threads, smaller than the 8 MiB
//! nerve gives its query threads; the deepest queries accepted are also evaluated, on 4 MiB.

use nerve_query::promql::{Engine, MemSource, plan, prescan};
use nerve_query::{logql, selector, traces::traceql};
use nerve_storage::Labels;
use nerve_storage::metrics::Sample;
use proptest::prelude::*;

/// Openers that each nest a PromQL query one level deeper.
const PROMQL_OPENERS: &[&str] = &[
    "(",
    "sum(",
    "-",
    "+",
    "abs(",
    "rate(",
    "max_over_time(",
    "sum by (a) (",
    "1 + ",
    "up or ",
    "x * ",
    "2 ^ ",
    "{",
    "[",
    "histogram_quantile(0.9, ",
    "label_replace(",
];
/// Binary operators of PromQL chains.
const PROMQL_OPS: &[&str] = &[
    " + ", " - ", " * ", " / ", " % ", " ^ ", " == ", " and ", " or ", " unless ", " > bool ",
];

fn promql_must_not_crash(q: &str) -> Result<(), TestCaseError> {
    let parsed = plan::parse(q);
    let _ = plan::format_query(q);
    let _ = selector::parse_selector(q);
    if q.len() > prescan::MAX_QUERY_BYTES {
        prop_assert!(parsed.is_err());
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Up to 5000 random openers, an operand, and some (maybe not all) closers.
    #[test]
    fn promql_nesting_is_an_error_not_a_crash(
        openers in prop::collection::vec(prop::sample::select(PROMQL_OPENERS), 0..5000),
        core in prop::sample::select(&["up", "1", "x[5m]", "\"s\"", ""][..]),
        close_frac in 0.0f64..=1.0,
    ) {
        let mut q: String = openers.concat();
        q.push_str(core);
        let closers = (openers.len() as f64 * close_frac) as usize;
        q.push_str(&")".repeat(closers));
        promql_must_not_crash(&q)?;
        // Every opener nests at least one level (inside `{` operators are matchers, so
        // openers after one may not count).
        if openers.len() > prescan::MAX_DEPTH && !openers.contains(&"{") {
            let e = plan::parse(&q).unwrap_err().to_string();
            prop_assert!(e.contains("the limit is 256"), "{}", e);
        }
    }

    /// Flat chains of up to 30 000 operands: each operator nests the tree one level.
    #[test]
    fn promql_long_chains_are_an_error_not_a_crash(
        n in 1usize..30_000,
        op in prop::sample::select(PROMQL_OPS),
        operand in prop::sample::select(&["up", "1", "rate(x[5m])", "sum(y)"][..]),
    ) {
        let q = vec![operand; n].join(op);
        promql_must_not_crash(&q)?;
        if n > prescan::MAX_DEPTH + 1 {
            prop_assert!(plan::parse(&q).is_err());
        }
    }

    /// LogQL: nesting, binary chains and label filter chains.
    #[test]
    fn logql_deep_and_long_is_an_error_not_a_crash(
        n in 1usize..20_000,
        shape in 0usize..5,
    ) {
        let q = match shape {
            0 => format!("{}count_over_time({{a=\"b\"}}[1m]){}", "(".repeat(n), ")".repeat(n)),
            1 => vec!["count_over_time({a=\"b\"}[1m])"; n].join(" + "),
            2 => format!("{{a=\"b\"}} | {}", vec!["x=\"1\""; n].join(" or ")),
            3 => format!("{{a=\"b\"}} | {}", vec!["x=\"1\""; n].join(", ")),
            _ => format!("{}count_over_time({{a=\"b\"}}[1m]){}", "sum(".repeat(n), ")".repeat(n)),
        };
        let r = logql::parse(&q);
        if n > 64 {
            prop_assert!(r.is_err(), "{} levels parsed", n);
        }
    }

    /// TraceQL: parentheses, negations and condition chains.
    #[test]
    fn traceql_deep_and_long_is_an_error_not_a_crash(
        n in 1usize..20_000,
        shape in 0usize..5,
    ) {
        let q = match shape {
            0 => format!("{{ {}.a = 1{} }}", "(".repeat(n), ")".repeat(n)),
            1 => format!("{{ {} }}", vec![".a = 1"; n].join(" && ")),
            2 => format!("{{ {} }}", vec![".a = 1"; n].join(" || ")),
            3 => format!("{{ {}.a = 1 }}", "!".repeat(n)),
            _ => format!("{}{{}}{}", "(".repeat(n), ")".repeat(n)),
        };
        let r = traceql::parse(&q);
        if n > 64 {
            prop_assert!(r.is_err(), "{} levels parsed", n);
        }
    }
}

#[test]
fn text_longer_than_the_cap_is_refused_by_every_language() {
    let big = "x".repeat(prescan::MAX_QUERY_BYTES);
    let promql = format!("up{{a=\"{big}\"}}");
    let logql = format!("{{a=\"b\"}} |= \"{big}\"");
    let traceql = format!("{{ .a = \"{big}\" }}");
    for e in [
        plan::parse(&promql).unwrap_err().to_string(),
        selector::parse_selector(&promql).unwrap_err().to_string(),
        logql::parse(&logql).unwrap_err().to_string(),
        traceql::parse(&traceql).unwrap_err().to_string(),
    ] {
        assert!(e.contains("too long") && e.contains("the limit is 262144 bytes"), "{e}");
    }
}

/// The deepest PromQL queries the limit lets through parse, print and evaluate on a 4 MiB
/// stack, half of what nerve's query threads have. Measured in a debug build, parsing and
/// evaluating `abs(-abs(-…up))` overflows 8 MiB at about 1000 levels and 2 MiB at about 240
/// (`sum(` about 1190 and 300, chains of `+` about 1310 and 330), and 255 nested subqueries
/// needed between 4 and 8 MiB, hence [`prescan::MAX_SUBQUERIES`]; release frames are smaller.
#[test]
fn deepest_accepted_promql_evaluates_on_a_small_stack() {
    let d = prescan::MAX_DEPTH;
    let queries = vec![
        format!("{}up{}", "sum(".repeat(d - 1), ")".repeat(d - 1)),
        format!("{}up{}", "(".repeat(d), ")".repeat(d)),
        format!("{}1", "-".repeat(d)),
        vec!["up"; d + 1].join(" + "),
        vec!["up"; d + 1].join(" or "),
        format!("{}up{}", "abs(-".repeat(d / 2), ")".repeat(d / 2)),
        format!(
            "{}up{}",
            "max_over_time(".repeat(prescan::MAX_SUBQUERIES),
            "[5m:1m])".repeat(prescan::MAX_SUBQUERIES)
        ),
    ];
    let handle = std::thread::Builder::new()
        .stack_size(4 << 20)
        .spawn(move || {
            let mut src = MemSource::default();
            src.add(
                Labels::from_pairs([("__name__", "up"), ("job", "a")]).unwrap(),
                (0..=40).map(|i| Sample { t: i * 15_000, v: 1.0 }).collect(),
            );
            for q in &queries {
                assert!(prescan::check(q).is_ok(), "{} is over the limit", &q[..30]);
                let e = plan::parse(q).unwrap_or_else(|e| panic!("{}: {e}", &q[..30]));
                let _ = e.prettify();
                Engine::default()
                    .instant(&src, q, 600_000, None)
                    .unwrap_or_else(|e| panic!("{}: {e}", &q[..30]));
                Engine::default()
                    .range(&src, q, 0, 600_000, 60_000, None)
                    .unwrap_or_else(|e| panic!("{}: {e}", &q[..30]));
            }
        })
        .unwrap();
    handle.join().expect("evaluation thread");
}
