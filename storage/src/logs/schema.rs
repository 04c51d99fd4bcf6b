//! The tantivy schema of a log partition and its tokenizer.
//!
//! Lines are split into runs of alphanumeric characters, lowercased, and tokens of
//! [`MAX_TOKEN_LEN`] bytes or more are not indexed. Only document ids are kept per term (no
//! frequencies, no positions): the index finds candidates, the raw line decides.

use crate::error::{Error, Result};
use std::path::Path;
use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions,
};
use tantivy::store::{Compressor, ZstdCompressor};
use tantivy::tokenizer::{LowerCaser, RemoveLongFilter, SimpleTokenizer, TextAnalyzer};
use tantivy::{Index, IndexSettings};

/// Name the line tokenizer is registered under.
pub(super) const TOKENIZER: &str = "nerve_log";
/// Tokens this long (bytes) or longer are not indexed (and so never required at query time).
pub(super) const MAX_TOKEN_LEN: usize = 96;
/// Doc store block size: large blocks compress repetitive log lines far better.
const DOCSTORE_BLOCK: usize = 1 << 20;
/// zstd level of the doc store.
const ZSTD_LEVEL: i32 = 7;

/// Field handles of the partition schema.
#[derive(Clone, Copy, Debug)]
pub(super) struct Fields {
    /// Stream id (indexed for term-set queries, fast for collection).
    pub stream: Field,
    /// Timestamp ns (fast, range queries).
    pub ts: Field,
    /// Raw line length in bytes (fast, for stats).
    pub bytes: Field,
    /// Tokenized line (indexed) and raw line (stored).
    pub line: Field,
    /// Encoded structured metadata (stored).
    pub metadata: Field,
    /// Trace id (indexed as one term).
    pub trace: Field,
    /// 1 when the line has a token too long to index (see [`has_long_token`]).
    pub long: Field,
}

/// Builds the schema.
pub(super) fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let stream = b.add_u64_field("stream", INDEXED | FAST);
    // Fast only: time ranges are answered from the column (a term per distinct timestamp
    // would be most of the term dictionary).
    let ts = b.add_i64_field("ts", FAST);
    let bytes = b.add_u64_field("bytes", FAST);
    let indexing = TextFieldIndexing::default()
        .set_tokenizer(TOKENIZER)
        .set_index_option(IndexRecordOption::Basic)
        .set_fieldnorms(false);
    let line = b.add_text_field(
        "line",
        TextOptions::default().set_indexing_options(indexing).set_stored(),
    );
    let metadata = b.add_bytes_field("metadata", STORED);
    let trace = b.add_text_field("trace", STRING);
    let long = b.add_u64_field("long", INDEXED);
    let fields = Fields {
        stream,
        ts,
        bytes,
        line,
        metadata,
        trace,
        long,
    };
    (b.build(), fields)
}

/// The analyzer used both to index lines and to tokenize query substrings.
pub(super) fn analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(MAX_TOKEN_LEN))
        .filter(LowerCaser)
        .build()
}

fn tantivy_err(dir: &Path, e: tantivy::TantivyError) -> Error {
    Error::io(dir, std::io::Error::other(e.to_string()))
}

/// True when `line` has a run of alphanumeric characters of [`MAX_TOKEN_LEN`] bytes or more,
/// which the analyzer drops. Such lines are flagged so that a substring that may be part of a
/// token (at the edge of a query string) still finds them.
pub(super) fn has_long_token(line: &str) -> bool {
    if line.len() < MAX_TOKEN_LEN {
        return false;
    }
    let mut run = 0;
    for c in line.chars() {
        if c.is_alphanumeric() {
            run += c.len_utf8();
            if run >= MAX_TOKEN_LEN {
                return true;
            }
        } else {
            run = 0;
        }
    }
    false
}

/// Opens the partition index in `dir`, creating it when missing.
pub(super) fn open_index(dir: &Path) -> Result<(Index, Fields)> {
    let (schema, fields) = schema();
    let index = if dir.join("meta.json").exists() {
        let index = Index::open_in_dir(dir).map_err(|e| tantivy_err(dir, e))?;
        if index.schema() != schema {
            return Err(Error::corruption(
                dir,
                0,
                "log partition schema differs from this version's",
            ));
        }
        index
    } else {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let settings = IndexSettings {
            docstore_compression: Compressor::Zstd(ZstdCompressor {
                compression_level: Some(ZSTD_LEVEL),
            }),
            docstore_blocksize: DOCSTORE_BLOCK,
            ..IndexSettings::default()
        };
        Index::builder()
            .schema(schema)
            .settings(settings)
            .create_in_dir(dir)
            .map_err(|e| tantivy_err(dir, e))?
    };
    index.tokenizers().register(TOKENIZER, analyzer());
    Ok((index, fields))
}

/// Maps a tantivy error on the partition in `dir` to the crate error.
pub(super) fn err(dir: &Path) -> impl Fn(tantivy::TantivyError) -> Error + '_ {
    move |e| tantivy_err(dir, e)
}
