//! The per-entry label set a pipeline works on, with Loki's three categories (stream,
//! structured metadata, parsed) and the error pair (`__error__`, `__error_details__`).
//!
//! Values borrow from the stream and entry where possible; only labels a stage writes are
//! allocated. A label set with an empty value counts as present for the pipeline
//! (`| x > 1` sees `""` and flags a conversion error) but is dropped from results, as
//! Prometheus label sets have no empty values.

use std::borrow::Cow;

use nerve_storage::Labels;

use super::template::TemplateData;

/// `__error__`.
pub const ERROR_LABEL: &str = "__error__";
/// `__error_details__`.
pub const ERROR_DETAILS_LABEL: &str = "__error_details__";
/// Suffix parsers add when an extracted name collides with a stream label.
pub const DUPLICATE_SUFFIX: &str = "_extracted";

/// Where a label came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Category {
    /// An indexed stream label.
    Stream,
    /// Structured metadata of the entry.
    Metadata,
    /// Added by a parser or `label_format` (errors too).
    Parsed,
}

#[derive(Clone, Debug)]
struct Entry<'a> {
    name: Cow<'a, str>,
    value: Cow<'a, str>,
    cat: Category,
}

/// Labels split by category: stream labels, structured metadata, parsed (both sorted by name).
pub type Categorized = (Labels, Vec<(String, String)>, Vec<(String, String)>);

/// The labels of one entry while its pipeline runs.
#[derive(Clone, Debug)]
pub struct LabelsBuilder<'a> {
    stream: &'a Labels,
    entries: Vec<Entry<'a>>,
    err: Option<String>,
    details: Option<String>,
}

impl<'a> LabelsBuilder<'a> {
    /// Starts from a stream's labels and an entry's structured metadata. Metadata names that
    /// collide with stream labels get the `_extracted` suffix.
    pub fn new(stream: &'a Labels, metadata: &'a [(String, String)]) -> Self {
        let mut entries = Vec::with_capacity(stream.len() + metadata.len());
        for (n, v) in stream.iter() {
            entries.push(Entry {
                name: Cow::Borrowed(n),
                value: Cow::Borrowed(v),
                cat: Category::Stream,
            });
        }
        let mut b = LabelsBuilder {
            stream,
            entries,
            err: None,
            details: None,
        };
        for (n, v) in metadata {
            let name = if stream.get(n).is_some() {
                Cow::Owned(format!("{n}{DUPLICATE_SUFFIX}"))
            } else {
                Cow::Borrowed(n.as_str())
            };
            b.set(Category::Metadata, name, Cow::Borrowed(v.as_str()));
        }
        b
    }

    /// True when the original stream has label `name` (parsers then use `name_extracted`).
    pub fn base_has(&self, name: &str) -> bool {
        self.stream.get(name).is_some()
    }

    /// The name a parser should use for an extracted key.
    pub fn extracted_name(&self, name: String) -> String {
        if self.base_has(&name) {
            name + DUPLICATE_SUFFIX
        } else {
            name
        }
    }

    /// Current value of `name` (error labels included).
    pub fn get(&self, name: &str) -> Option<&str> {
        match name {
            ERROR_LABEL => self.err.as_deref(),
            ERROR_DETAILS_LABEL => self.details.as_deref(),
            _ => self.entries.iter().find(|e| e.name == name).map(|e| &*e.value),
        }
    }

    /// The category of `name`, if present.
    pub fn category(&self, name: &str) -> Option<Category> {
        self.entries.iter().find(|e| e.name == name).map(|e| e.cat)
    }

    /// Sets `name`, replacing any previous value and category.
    pub fn set(&mut self, cat: Category, name: Cow<'a, str>, value: Cow<'a, str>) {
        match &*name {
            ERROR_LABEL => self.err = Some(value.into_owned()),
            ERROR_DETAILS_LABEL => self.details = Some(value.into_owned()),
            _ => match self.entries.iter_mut().find(|e| e.name == name) {
                Some(e) => {
                    e.value = value;
                    e.cat = cat;
                }
                None => self.entries.push(Entry { name, value, cat }),
            },
        }
    }

    /// Sets a parsed label from owned strings.
    pub fn set_parsed(&mut self, name: String, value: String) {
        self.set(Category::Parsed, Cow::Owned(name), Cow::Owned(value));
    }

    /// Removes `name` (`__error__` and `__error_details__` clear the error fields).
    pub fn del(&mut self, name: &str) {
        match name {
            ERROR_LABEL => self.err = None,
            ERROR_DETAILS_LABEL => self.details = None,
            _ => self.entries.retain(|e| e.name != name),
        }
    }

    /// Keeps only the labels for which `keep(name, value)` holds (error labels always stay).
    pub fn retain(&mut self, mut keep: impl FnMut(&str, &str) -> bool) {
        self.entries.retain(|e| keep(&e.name, &e.value));
    }

    /// Flags an error (`__error__`) with optional details.
    pub fn set_err(&mut self, err: &str, details: Option<String>) {
        self.err = Some(err.to_string());
        if details.is_some() {
            self.details = details;
        }
    }

    /// True when `__error__` is set.
    pub fn has_err(&self) -> bool {
        self.err.is_some()
    }

    /// All labels with non-empty values (error labels included), unsorted.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str, Category)> {
        let errs = [(ERROR_LABEL, &self.err), (ERROR_DETAILS_LABEL, &self.details)];
        self.entries
            .iter()
            .map(|e| (&*e.name, &*e.value, e.cat))
            .chain(
                errs.into_iter()
                    .filter_map(|(n, v)| v.as_deref().map(|v| (n, v, Category::Parsed))),
            )
            .filter(|(_, v, _)| !v.is_empty())
    }

    /// The labels split by category: stream labels, metadata and parsed (both sorted by name).
    pub fn categorized(&self) -> Categorized {
        let mut stream = Vec::new();
        let mut meta = Vec::new();
        let mut parsed = Vec::new();
        for (n, v, c) in self.pairs() {
            let p = (n.to_string(), v.to_string());
            match c {
                Category::Stream => stream.push(p),
                Category::Metadata => meta.push(p),
                Category::Parsed => parsed.push(p),
            }
        }
        meta.sort();
        parsed.sort();
        let stream = if stream.len() == self.stream.len()
            && self.stream.iter().zip(&stream).all(|(a, b)| a.0 == b.0 && a.1 == b.1)
        {
            self.stream.clone()
        } else {
            Labels::from_pairs(stream).unwrap_or_default()
        };
        (stream, meta, parsed)
    }
}

impl TemplateData for LabelsBuilder<'_> {
    fn label(&self, name: &str) -> Option<&str> {
        self.get(name)
    }

    fn labels(&self) -> Vec<(&str, &str)> {
        self.pairs().map(|(n, v, _)| (n, v)).collect()
    }
}

/// A snapshot of labels for templates that must not see their own stage's writes.
pub struct Snapshot(pub Vec<(String, String)>);

impl Snapshot {
    /// Copies the builder's current labels.
    pub fn of(b: &LabelsBuilder<'_>) -> Self {
        Snapshot(b.pairs().map(|(n, v, _)| (n.to_string(), v.to_string())).collect())
    }
}

impl TemplateData for Snapshot {
    fn label(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    fn labels(&self) -> Vec<(&str, &str)> {
        self.0.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect()
    }
}
