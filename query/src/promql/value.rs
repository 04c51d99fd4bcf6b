//! Values the PromQL engine produces: instant vectors, range vectors (matrices), scalars and
//! strings, in the shapes the Prometheus API returns them.

use nerve_storage::Labels;
use nerve_storage::metrics::Sample;

/// One element of an instant vector.
#[derive(Clone, Debug, PartialEq)]
pub struct InstantSample {
    /// The series' labels.
    pub labels: Labels,
    /// Milliseconds: the evaluation time, except straight out of a vector selector, where it is
    /// the time of the sample found (what `timestamp()` reports).
    pub t: i64,
    /// The value.
    pub v: f64,
}

/// An instant vector: at most one sample per label set.
pub type Vector = Vec<InstantSample>;

/// One series of a range vector (or of a range query's result).
#[derive(Clone, Debug, PartialEq)]
pub struct RangeSeries {
    /// The series' labels.
    pub labels: Labels,
    /// Samples in time order; never stale markers.
    pub samples: Vec<Sample>,
}

/// A range vector; results are sorted by labels.
pub type Matrix = Vec<RangeSeries>;

/// The result of a query, typed as Prometheus types it (`resultType`).
#[derive(Clone, Debug, PartialEq)]
pub enum QueryValue {
    /// `scalar`: one number at the evaluation time (ms).
    Scalar {
        /// Evaluation time in ms.
        t: i64,
        /// Value.
        v: f64,
    },
    /// `string`: a string literal at the evaluation time (ms).
    String {
        /// Evaluation time in ms.
        t: i64,
        /// The string.
        s: String,
    },
    /// `vector`: an instant vector at the evaluation time, in evaluation order.
    Vector {
        /// Evaluation time in ms; every element is reported at this time.
        t: i64,
        /// Elements.
        samples: Vector,
    },
    /// `matrix`: a range vector, or the result of a range query.
    Matrix(Matrix),
}

impl QueryValue {
    /// The Prometheus `resultType` name.
    pub fn type_name(&self) -> &'static str {
        match self {
            QueryValue::Scalar { .. } => "scalar",
            QueryValue::String { .. } => "string",
            QueryValue::Vector { .. } => "vector",
            QueryValue::Matrix(_) => "matrix",
        }
    }
}

/// What one expression evaluates to at one step.
#[derive(Clone, Debug)]
pub(crate) enum StepValue {
    Scalar(f64),
    String(String),
    Vector(Vector),
    Matrix(Matrix),
}

impl StepValue {
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            StepValue::Scalar(_) => "scalar",
            StepValue::String(_) => "string",
            StepValue::Vector(_) => "instant vector",
            StepValue::Matrix(_) => "range vector",
        }
    }
}
