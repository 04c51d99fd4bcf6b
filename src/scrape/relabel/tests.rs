//! One table per action. Inputs and expected outputs follow Prometheus' documented behaviour
//! (`docs/configuration/configuration.md` `<relabel_config>`) and the expectations of its
//! relabel tests (e.g. hashmod of `baz` modulo 1000 is 976).

use super::*;

fn labels(pairs: &[(&str, &str)]) -> LabelMap {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// Parses rules from YAML exactly as they appear in a prometheus.yml.
fn rules(yaml: &str) -> Vec<Rule> {
    let cfgs: Vec<RelabelConfig> = serde_saphyr::from_str(yaml).expect("rule yaml");
    for c in &cfgs {
        c.validate("test").expect("valid rule");
    }
    Rule::compile_all(&cfgs).expect("compile")
}

/// Label pairs as written in a table.
type Pairs<'a> = &'a [(&'a str, &'a str)];

/// Runs one table: (rules, input, expected output or None for dropped).
fn check(table: &[(&str, Pairs<'_>, Option<Pairs<'_>>)]) {
    for (yaml, input, want) in table {
        let mut lb = labels(input);
        let kept = process(&mut lb, &rules(yaml));
        match want {
            None => assert!(!kept, "{yaml}\ninput {input:?}: expected drop, got {lb:?}"),
            Some(w) => {
                assert!(kept, "{yaml}\ninput {input:?}: unexpectedly dropped");
                assert_eq!(lb, labels(w), "{yaml}\ninput {input:?}");
            }
        }
    }
}

#[test]
fn replace() {
    check(&[
        // Capture groups in the replacement.
        (
            "- source_labels: [a]\n  regex: f(.*)\n  target_label: d\n  replacement: ch${1}-ch${1}\n",
            &[("a", "foo")],
            Some(&[("a", "foo"), ("d", "choo-choo")]),
        ),
        // No match: nothing changes.
        (
            "- source_labels: [a]\n  regex: f\n  target_label: b\n  replacement: bar\n",
            &[("a", "boo")],
            Some(&[("a", "boo")]),
        ),
        // Several source labels joined by the separator; default replacement $1.
        (
            "- source_labels: [a, b]\n  separator: '-'\n  regex: '(.*)-(.*)'\n  target_label: c\n  replacement: '$2/$1'\n",
            &[("a", "x"), ("b", "y")],
            Some(&[("a", "x"), ("b", "y"), ("c", "y/x")]),
        ),
        // The documented port rewrite.
        (
            "- source_labels: [__address__]\n  regex: '([^:]+)(?::\\d+)?'\n  target_label: __address__\n  replacement: '${1}:9100'\n",
            &[("__address__", "host.example:80")],
            Some(&[("__address__", "host.example:9100")]),
        ),
        // Target label from a capture group; an empty result deletes (here: absent) label.
        (
            "- source_labels: [a]\n  regex: '(f).*'\n  target_label: '$1'\n  replacement: '$2'\n",
            &[("a", "foo"), ("f", "baz")],
            Some(&[("a", "foo")]),
        ),
        // An invalid target label name is skipped.
        (
            "- source_labels: [a]\n  regex: '(.*)'\n  target_label: '${1}'\n  replacement: x\n",
            &[("a", "some-name")],
            Some(&[("a", "some-name")]),
        ),
        // `$1_x` names group "1_x" (Go template rules): empty, so the target is deleted.
        (
            "- source_labels: [a]\n  regex: '(.*)'\n  target_label: b\n  replacement: '$1_x'\n",
            &[("a", "foo"), ("b", "old")],
            Some(&[("a", "foo")]),
        ),
        // No source labels: the default regex matches "" and sets a constant.
        (
            "- target_label: env\n  replacement: prod\n",
            &[("a", "foo")],
            Some(&[("a", "foo"), ("env", "prod")]),
        ),
        // `$$` is a literal dollar.
        (
            "- source_labels: [a]\n  target_label: b\n  replacement: 'cost$$'\n",
            &[("a", "foo")],
            Some(&[("a", "foo"), ("b", "cost$")]),
        ),
    ]);
}

#[test]
fn keep() {
    check(&[
        (
            "- source_labels: [a]\n  regex: 'f.*'\n  action: keep\n",
            &[("a", "foo")],
            Some(&[("a", "foo")]),
        ),
        (
            "- source_labels: [a]\n  regex: 'b.*'\n  action: keep\n",
            &[("a", "foo")],
            None,
        ),
        // Anchored: a partial match is no match.
        (
            "- source_labels: [a]\n  regex: 'o'\n  action: keep\n",
            &[("a", "foo")],
            None,
        ),
        // A missing label is "".
        (
            "- source_labels: [zzz]\n  regex: ''\n  action: keep\n",
            &[("a", "foo")],
            Some(&[("a", "foo")]),
        ),
    ]);
}

#[test]
fn drop() {
    check(&[
        (
            "- source_labels: [a]\n  regex: 'f.*'\n  action: drop\n",
            &[("a", "foo")],
            None,
        ),
        (
            "- source_labels: [a]\n  regex: 'b.*'\n  action: drop\n",
            &[("a", "foo")],
            Some(&[("a", "foo")]),
        ),
        (
            "- source_labels: [__name__]\n  regex: 'go_.*|process_.*'\n  action: drop\n",
            &[("__name__", "go_goroutines")],
            None,
        ),
    ]);
}

#[test]
fn keepequal() {
    check(&[
        (
            "- source_labels: [a]\n  target_label: b\n  action: keepequal\n",
            &[("a", "foo"), ("b", "foo")],
            Some(&[("a", "foo"), ("b", "foo")]),
        ),
        (
            "- source_labels: [a]\n  target_label: b\n  action: keepequal\n",
            &[("a", "foo"), ("b", "bar")],
            None,
        ),
        // Joined source labels compared to the target label's value.
        (
            "- source_labels: [__tmp_host, __tmp_port]\n  separator: ':'\n  target_label: __address__\n  action: keepequal\n",
            &[("__tmp_host", "h"), ("__tmp_port", "80"), ("__address__", "h:80")],
            Some(&[("__tmp_host", "h"), ("__tmp_port", "80"), ("__address__", "h:80")]),
        ),
    ]);
}

#[test]
fn dropequal() {
    check(&[
        (
            "- source_labels: [a]\n  target_label: b\n  action: dropequal\n",
            &[("a", "foo"), ("b", "foo")],
            None,
        ),
        (
            "- source_labels: [a]\n  target_label: b\n  action: dropequal\n",
            &[("a", "foo"), ("b", "bar")],
            Some(&[("a", "foo"), ("b", "bar")]),
        ),
    ]);
}

#[test]
fn hashmod() {
    check(&[
        (
            "- source_labels: [c]\n  target_label: d\n  modulus: 1000\n  action: hashmod\n",
            &[("a", "foo"), ("b", "bar"), ("c", "baz")],
            Some(&[("a", "foo"), ("b", "bar"), ("c", "baz"), ("d", "976")]),
        ),
        (
            "- source_labels: [a]\n  target_label: b\n  modulus: 1000\n  action: hashmod\n",
            &[("a", "foo\nbar")],
            Some(&[("a", "foo\nbar"), ("b", "734")]),
        ),
        // The documented sharding idiom: hashmod then keep one shard.
        (
            "- source_labels: [c]\n  target_label: __tmp_shard\n  modulus: 1000\n  action: hashmod\n- source_labels: [__tmp_shard]\n  regex: '976'\n  action: keep\n",
            &[("c", "baz")],
            Some(&[("c", "baz"), ("__tmp_shard", "976")]),
        ),
    ]);
}

#[test]
fn labelmap() {
    check(&[
        (
            "- regex: '(b.*)'\n  replacement: 'bar_${1}'\n  action: labelmap\n",
            &[("a", "foo"), ("b1", "bar"), ("b2", "baz")],
            Some(&[
                ("a", "foo"),
                ("b1", "bar"),
                ("b2", "baz"),
                ("bar_b1", "bar"),
                ("bar_b2", "baz"),
            ]),
        ),
        (
            "- regex: '__meta_(my.*)'\n  replacement: '${1}'\n  action: labelmap\n",
            &[
                ("a", "foo"),
                ("__meta_my_bar", "aaa"),
                ("__meta_my_baz", "bbb"),
                ("__meta_other", "ccc"),
            ],
            Some(&[
                ("a", "foo"),
                ("__meta_my_bar", "aaa"),
                ("__meta_my_baz", "bbb"),
                ("__meta_other", "ccc"),
                ("my_bar", "aaa"),
                ("my_baz", "bbb"),
            ]),
        ),
    ]);
}

#[test]
fn labeldrop() {
    check(&[
        (
            "- regex: 'b.*'\n  action: labeldrop\n",
            &[("a", "foo"), ("b1", "bar"), ("b2", "baz")],
            Some(&[("a", "foo")]),
        ),
        // Anchored: `b` does not drop `b1`.
        (
            "- regex: 'b'\n  action: labeldrop\n",
            &[("a", "foo"), ("b1", "bar")],
            Some(&[("a", "foo"), ("b1", "bar")]),
        ),
    ]);
}

#[test]
fn labelkeep() {
    check(&[(
        "- regex: 'b.*'\n  action: labelkeep\n",
        &[("a", "foo"), ("b1", "bar"), ("b2", "baz")],
        Some(&[("b1", "bar"), ("b2", "baz")]),
    )]);
}

#[test]
fn lowercase() {
    check(&[(
        "- source_labels: [foo]\n  target_label: foo_lowercase\n  action: lowercase\n",
        &[("foo", "bAr123Foo")],
        Some(&[("foo", "bAr123Foo"), ("foo_lowercase", "bar123foo")]),
    )]);
}

#[test]
fn uppercase() {
    check(&[(
        "- source_labels: [foo]\n  target_label: foo_uppercase\n  action: uppercase\n",
        &[("foo", "bAr123Foo")],
        Some(&[("foo", "bAr123Foo"), ("foo_uppercase", "BAR123FOO")]),
    )]);
}

#[test]
fn rules_apply_in_order_and_stop_at_a_drop() {
    check(&[(
        "- source_labels: [a]\n  target_label: b\n- source_labels: [b]\n  regex: foo\n  action: drop\n- target_label: never\n  replacement: x\n",
        &[("a", "foo")],
        None,
    )]);
}
