//! The tantivy schema of a log partition: one document per chunk.
//!
//! A document holds the chunk's stream, time range, location and size as fast fields, and the
//! distinct word tokens of its lines (see [`super::tokens`]) as an indexed, pre-tokenized text
//! field with document ids only (no frequencies, positions or fieldnorms): the index finds
//! candidate chunks, the chunk's bloom filter and then its lines decide.

use crate::error::{Error, Result};
use std::path::Path;
use tantivy::schema::{FAST, Field, INDEXED, IndexRecordOption, Schema, TextFieldIndexing, TextOptions};
use tantivy::{Index, IndexSettings};

/// Field handles of the partition schema.
#[derive(Clone, Copy, Debug)]
pub(super) struct Fields {
    /// Stream id (indexed for term-set queries, fast for collection).
    pub stream: Field,
    /// Oldest entry, ns (fast).
    pub min_ts: Field,
    /// Newest entry, ns (fast).
    pub max_ts: Field,
    /// Chunk file (its sequence number) and record offset (fast).
    pub file: Field,
    pub offset: Field,
    /// Entries and line bytes (fast, for stats).
    pub entries: Field,
    pub bytes: Field,
    /// Distinct word tokens (indexed).
    pub words: Field,
    /// 1 when a line holds a token too long to index.
    pub long: Field,
}

/// Builds the schema.
pub(super) fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let stream = b.add_u64_field("stream", INDEXED | FAST);
    let min_ts = b.add_i64_field("min_ts", FAST);
    let max_ts = b.add_i64_field("max_ts", FAST);
    let file = b.add_u64_field("file", FAST);
    let offset = b.add_u64_field("offset", FAST);
    let entries = b.add_u64_field("entries", FAST);
    let bytes = b.add_u64_field("bytes", FAST);
    let indexing = TextFieldIndexing::default()
        .set_index_option(IndexRecordOption::Basic)
        .set_fieldnorms(false);
    let words = b.add_text_field("words", TextOptions::default().set_indexing_options(indexing));
    let long = b.add_u64_field("long", INDEXED);
    let fields = Fields {
        stream,
        min_ts,
        max_ts,
        file,
        offset,
        entries,
        bytes,
        words,
        long,
    };
    (b.build(), fields)
}

fn tantivy_err(dir: &Path, e: tantivy::TantivyError) -> Error {
    Error::io(dir, std::io::Error::other(e.to_string()))
}

/// Whether `dir` holds a partition index of another schema (written by an older nerve, which
/// gave tantivy one document per line).
pub(super) fn outdated(dir: &Path) -> Result<bool> {
    if !dir.join("meta.json").exists() {
        return Ok(false);
    }
    let index = Index::open_in_dir(dir).map_err(|e| tantivy_err(dir, e))?;
    Ok(index.schema() != schema().0)
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
        Index::builder()
            .schema(schema)
            .settings(IndexSettings::default())
            .create_in_dir(dir)
            .map_err(|e| tantivy_err(dir, e))?
    };
    Ok((index, fields))
}

/// Maps a tantivy error on the partition in `dir` to the crate error.
pub(super) fn err(dir: &Path) -> impl Fn(tantivy::TantivyError) -> Error + '_ {
    move |e| tantivy_err(dir, e)
}
