//! The parsed form of a LogQL query. Regexes, patterns and templates are compiled while
//! parsing, so evaluation never fails on them and compiles nothing per line.

use nerve_storage::Matcher;
use regex::Regex;

use super::pattern::Pattern;
use super::template::Template;

/// A LogQL expression.
#[derive(Clone, Debug)]
pub enum Expr {
    /// A log query: stream selector plus pipeline.
    Log(LogExpr),
    /// A range aggregation such as `rate({...}[5m])`.
    RangeAgg(RangeAgg),
    /// A vector aggregation such as `sum by (a) (...)`.
    VectorAgg(VectorAgg),
    /// A binary operation.
    Binary(Box<BinaryExpr>),
    /// A number.
    Literal(f64),
    /// `vector(x)`.
    Vector(f64),
    /// `label_replace(expr, dst, replacement, src, regex)`.
    LabelReplace(Box<LabelReplace>),
}

impl Expr {
    /// True for log queries (which return lines, not numbers).
    pub fn is_log(&self) -> bool {
        matches!(self, Expr::Log(_))
    }
}

/// `{matchers} | stage | stage ...`
#[derive(Clone, Debug)]
pub struct LogExpr {
    /// Stream selector matchers.
    pub matchers: Vec<Matcher>,
    /// Pipeline stages in order.
    pub stages: Vec<Stage>,
}

/// One pipeline stage.
#[derive(Clone, Debug)]
pub enum Stage {
    /// `|= "a" or "b"`, `!= "x"`, `|~ "re"`, `!~ "re"`, `|> "pat"`, `!> "pat"`.
    LineFilter(LineFilter),
    /// `| json` or `| json a="x.y", b`.
    Json(Vec<(String, JsonPath)>),
    /// `| logfmt [--strict] [--keep-empty] [a="b", c]`.
    Logfmt {
        /// Stop at the first malformed pair and flag it as an error.
        strict: bool,
        /// Keep standalone keys (`key` or `key=`) as empty labels.
        keep_empty: bool,
        /// Extraction parameters: (label, logfmt key).
        params: Vec<(String, String)>,
    },
    /// `| regexp "(?P<name>...)"`.
    Regexp(RegexpStage),
    /// `| pattern "<ip> - <_> ..."`.
    Pattern(Pattern),
    /// `| unpack`.
    Unpack,
    /// `| a="x" and b > 2`.
    LabelFilter(LabelFilter),
    /// `| line_format "{{.a}}"`.
    LineFormat(Template),
    /// `| label_format a=b, c="{{.x}}"`.
    LabelFormat(Vec<LabelFmt>),
    /// `| drop a, b="v"`.
    Drop(Vec<NamedMatcher>),
    /// `| keep a, b="v"`.
    Keep(Vec<NamedMatcher>),
    /// `| decolorize`.
    Decolorize,
}

/// A regexp parser stage: the compiled regex and its named groups (index, label name).
#[derive(Clone, Debug)]
pub struct RegexpStage {
    /// The compiled expression (unanchored, Go RE2 semantics).
    pub re: Regex,
    /// Named capture groups: (group index, label name).
    pub names: Vec<(usize, String)>,
}

/// The line filter operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineFilterOp {
    /// `|=` contains.
    Contains,
    /// `!=` does not contain.
    NotContains,
    /// `|~` regex matches somewhere.
    Match,
    /// `!~` regex does not match.
    NotMatch,
    /// `|>` pattern matches.
    Pattern,
    /// `!>` pattern does not match.
    NotPattern,
}

impl LineFilterOp {
    /// True for the negative operators.
    pub fn is_negative(self) -> bool {
        matches!(self, Self::NotContains | Self::NotMatch | Self::NotPattern)
    }
}

/// One line filter with its `or` alternatives.
#[derive(Clone, Debug)]
pub struct LineFilter {
    /// The operator, shared by all alternatives.
    pub op: LineFilterOp,
    /// Alternatives joined by `or` (a single one without `or`).
    pub alts: Vec<LineMatcher>,
}

/// One line filter operand, compiled.
#[derive(Clone, Debug)]
pub enum LineMatcher {
    /// Substring.
    Literal(String),
    /// Unanchored regex.
    Regex(Regex),
    /// Line pattern.
    Pattern(Pattern),
}

/// A path of a `| json` extraction parameter: keys and array indices.
pub type JsonPath = Vec<JsonKey>;

/// One step of a [`JsonPath`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JsonKey {
    /// Object field.
    Field(String),
    /// Array index.
    Index(usize),
}

/// Comparison operators of numeric label filters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmpOp {
    /// `==` or `=`
    Eq,
    /// `!=`
    Ne,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `<`
    Lt,
    /// `<=`
    Le,
}

impl CmpOp {
    /// Applies the comparison.
    pub fn cmp<T: PartialOrd>(self, a: T, b: T) -> bool {
        match self {
            CmpOp::Eq => a == b,
            CmpOp::Ne => a != b,
            CmpOp::Gt => a > b,
            CmpOp::Ge => a >= b,
            CmpOp::Lt => a < b,
            CmpOp::Le => a <= b,
        }
    }
}

/// A label filter expression.
#[derive(Clone, Debug)]
pub enum LabelFilter {
    /// Both must pass.
    And(Box<LabelFilter>, Box<LabelFilter>),
    /// Either must pass.
    Or(Box<LabelFilter>, Box<LabelFilter>),
    /// String matcher (`=`, `!=`, `=~`, `!~`); a missing label compares as `""`.
    Str(Matcher),
    /// Numeric comparison; the label value is parsed as a float.
    Num {
        /// Label name.
        name: String,
        /// Operator.
        op: CmpOp,
        /// Right-hand side.
        value: f64,
    },
    /// Duration comparison (`| latency > 250ms`), in nanoseconds.
    Duration {
        /// Label name.
        name: String,
        /// Operator.
        op: CmpOp,
        /// Right-hand side in nanoseconds.
        value: i64,
    },
    /// Byte-size comparison (`| size > 20KB`).
    Bytes {
        /// Label name.
        name: String,
        /// Operator.
        op: CmpOp,
        /// Right-hand side in bytes.
        value: u64,
    },
}

/// One `label_format` assignment.
#[derive(Clone, Debug)]
pub enum LabelFmt {
    /// `dst=src`: rename (the source label is removed).
    Rename {
        /// New name.
        dst: String,
        /// Old name.
        src: String,
    },
    /// `dst="{{...}}"`: template.
    Template {
        /// Label set.
        dst: String,
        /// Template.
        tpl: Template,
    },
}

/// A `drop`/`keep` item: a bare name, or a matcher on the value.
#[derive(Clone, Debug)]
pub enum NamedMatcher {
    /// Just the label name.
    Name(String),
    /// Name plus value matcher.
    Matcher(Matcher),
}

/// How `| unwrap` converts the label value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Conversion {
    /// Plain float.
    Float,
    /// Go duration, as seconds (`duration(x)` or `duration_seconds(x)`).
    Duration,
    /// Byte size (`bytes(x)`).
    Bytes,
}

/// `| unwrap [conv(]label[)]` plus the label filters written after it.
#[derive(Clone, Debug)]
pub struct Unwrap {
    /// Label to convert.
    pub label: String,
    /// Conversion.
    pub conv: Conversion,
    /// Label filters after the unwrap (they see the conversion error, if any).
    pub post_filters: Vec<LabelFilter>,
}

/// The log part of a range aggregation: `{...} | pipeline [range] offset d`.
#[derive(Clone, Debug)]
pub struct LogRange {
    /// Selector and pipeline.
    pub log: LogExpr,
    /// Range in nanoseconds.
    pub range_ns: i64,
    /// Offset in nanoseconds.
    pub offset_ns: i64,
    /// Unwrap, when present.
    pub unwrap: Option<Unwrap>,
}

/// Range aggregation operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RangeOp {
    /// `count_over_time`
    Count,
    /// `rate`
    Rate,
    /// `rate_counter`
    RateCounter,
    /// `bytes_over_time`
    Bytes,
    /// `bytes_rate`
    BytesRate,
    /// `absent_over_time`
    Absent,
    /// `sum_over_time`
    Sum,
    /// `avg_over_time`
    Avg,
    /// `min_over_time`
    Min,
    /// `max_over_time`
    Max,
    /// `stdvar_over_time`
    Stdvar,
    /// `stddev_over_time`
    Stddev,
    /// `quantile_over_time`
    Quantile,
    /// `first_over_time`
    First,
    /// `last_over_time`
    Last,
}

impl RangeOp {
    /// Parses the function name.
    pub fn from_name(s: &str) -> Option<Self> {
        Some(match s {
            "count_over_time" => Self::Count,
            "rate" => Self::Rate,
            "rate_counter" => Self::RateCounter,
            "bytes_over_time" => Self::Bytes,
            "bytes_rate" => Self::BytesRate,
            "absent_over_time" => Self::Absent,
            "sum_over_time" => Self::Sum,
            "avg_over_time" => Self::Avg,
            "min_over_time" => Self::Min,
            "max_over_time" => Self::Max,
            "stdvar_over_time" => Self::Stdvar,
            "stddev_over_time" => Self::Stddev,
            "quantile_over_time" => Self::Quantile,
            "first_over_time" => Self::First,
            "last_over_time" => Self::Last,
            _ => return None,
        })
    }

    /// The function name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Count => "count_over_time",
            Self::Rate => "rate",
            Self::RateCounter => "rate_counter",
            Self::Bytes => "bytes_over_time",
            Self::BytesRate => "bytes_rate",
            Self::Absent => "absent_over_time",
            Self::Sum => "sum_over_time",
            Self::Avg => "avg_over_time",
            Self::Min => "min_over_time",
            Self::Max => "max_over_time",
            Self::Stdvar => "stdvar_over_time",
            Self::Stddev => "stddev_over_time",
            Self::Quantile => "quantile_over_time",
            Self::First => "first_over_time",
            Self::Last => "last_over_time",
        }
    }
}

/// `by (a, b)` or `without (a)`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Grouping {
    /// `without` instead of `by`.
    pub without: bool,
    /// Label names.
    pub labels: Vec<String>,
}

/// A range aggregation.
#[derive(Clone, Debug)]
pub struct RangeAgg {
    /// Operator.
    pub op: RangeOp,
    /// Parameter (`quantile_over_time` only).
    pub param: Option<f64>,
    /// The log range.
    pub range: LogRange,
    /// Grouping (unwrapped aggregations only).
    pub grouping: Option<Grouping>,
}

/// Vector aggregation operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VecOp {
    /// `sum`
    Sum,
    /// `avg`
    Avg,
    /// `min`
    Min,
    /// `max`
    Max,
    /// `count`
    Count,
    /// `stddev`
    Stddev,
    /// `stdvar`
    Stdvar,
    /// `topk`
    Topk,
    /// `bottomk`
    Bottomk,
    /// `sort`
    Sort,
    /// `sort_desc`
    SortDesc,
}

impl VecOp {
    /// Parses the operator name.
    pub fn from_name(s: &str) -> Option<Self> {
        Some(match s {
            "sum" => Self::Sum,
            "avg" => Self::Avg,
            "min" => Self::Min,
            "max" => Self::Max,
            "count" => Self::Count,
            "stddev" => Self::Stddev,
            "stdvar" => Self::Stdvar,
            "topk" => Self::Topk,
            "bottomk" => Self::Bottomk,
            "sort" => Self::Sort,
            "sort_desc" => Self::SortDesc,
            _ => return None,
        })
    }

    /// The operator name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sum => "sum",
            Self::Avg => "avg",
            Self::Min => "min",
            Self::Max => "max",
            Self::Count => "count",
            Self::Stddev => "stddev",
            Self::Stdvar => "stdvar",
            Self::Topk => "topk",
            Self::Bottomk => "bottomk",
            Self::Sort => "sort",
            Self::SortDesc => "sort_desc",
        }
    }
}

/// A vector aggregation.
#[derive(Clone, Debug)]
pub struct VectorAgg {
    /// Operator.
    pub op: VecOp,
    /// `k` of topk/bottomk.
    pub param: Option<i64>,
    /// Aggregated expression.
    pub inner: Box<Expr>,
    /// Grouping.
    pub grouping: Option<Grouping>,
}

/// Binary operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Mod,
    /// `^`
    Pow,
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `and`
    And,
    /// `or`
    Or,
    /// `unless`
    Unless,
}

impl BinOp {
    /// True for `== != > >= < <=`.
    pub fn is_comparison(self) -> bool {
        matches!(self, Self::Eq | Self::Ne | Self::Gt | Self::Ge | Self::Lt | Self::Le)
    }

    /// True for `and or unless`.
    pub fn is_set(self) -> bool {
        matches!(self, Self::And | Self::Or | Self::Unless)
    }

    /// Binding strength (higher binds tighter), as in PromQL.
    pub fn precedence(self) -> u8 {
        match self {
            Self::Or => 1,
            Self::And | Self::Unless => 2,
            Self::Eq | Self::Ne | Self::Gt | Self::Ge | Self::Lt | Self::Le => 3,
            Self::Add | Self::Sub => 4,
            Self::Mul | Self::Div | Self::Mod => 5,
            Self::Pow => 6,
        }
    }
}

/// `group_left`/`group_right`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cardinality {
    /// One-to-one matching.
    OneToOne,
    /// `group_left(labels)`: many on the left.
    ManyToOne(Vec<String>),
    /// `group_right(labels)`: many on the right.
    OneToMany(Vec<String>),
}

/// `on(...)`/`ignoring(...)` with optional grouping.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VectorMatching {
    /// `on` (true) or `ignoring` (false).
    pub on: bool,
    /// The label list.
    pub labels: Vec<String>,
    /// Cardinality.
    pub card: Cardinality,
}

/// A binary expression.
#[derive(Clone, Debug)]
pub struct BinaryExpr {
    /// Operator.
    pub op: BinOp,
    /// Left operand.
    pub lhs: Expr,
    /// Right operand.
    pub rhs: Expr,
    /// `bool` modifier of comparisons.
    pub return_bool: bool,
    /// `on`/`ignoring`, when given.
    pub matching: Option<VectorMatching>,
}

/// `label_replace(...)`.
#[derive(Clone, Debug)]
pub struct LabelReplace {
    /// Input expression.
    pub inner: Expr,
    /// Destination label.
    pub dst: String,
    /// Replacement with `$1` references.
    pub replacement: String,
    /// Source label.
    pub src: String,
    /// Anchored regex.
    pub re: Regex,
}
