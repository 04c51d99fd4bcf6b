//! Lines cut into templates and variable columns, the way structured logs compress best.
//!
//! Every alphanumeric run that holds an ASCII digit (numbers, ids, timestamps, versions) is cut
//! out of its line and replaced by [`HOLE`]; what is left, the *template*, repeats from line to
//! line, so a chunk keeps each distinct template once and one small id per line. The `k`-th
//! variable of every line goes to column `k` (the last column takes the rest of long lines),
//! values separated by `\n` (never part of an alphanumeric run). Lines of one stream put the same
//! kind of value in the same place, so each column holds one kind of value (all timestamps, all
//! request ids, …) and compresses in a zstd frame of its own.
//!
//! Encoding, in the chunk's main payload: `[templates uvarint][template len-prefixed…]
//! [template id uvarint × n][columns uvarint][(compressed len, raw len) uvarint × columns]`; the
//! column frames follow the main frame in the chunk record.

use super::chunk::FxHasher;
use crate::encoding::{DecodeError, Reader, put_bytes, put_uvarint};
use std::collections::HashMap;
use std::hash::BuildHasherDefault;

/// Marks where a variable was cut out (ASCII SUB). A chunk with a line that holds it is stored
/// unsplit.
pub(super) const HOLE: u8 = 0x1a;
/// Most variable columns per chunk.
const MAX_COLUMNS: usize = 64;

fn err(what: &'static str) -> DecodeError {
    DecodeError { offset: 0, what }
}

/// Cuts lines as they are tokenized: [`var`](Self::var) for each variable in order, then
/// [`end_line`](Self::end_line).
#[derive(Default)]
pub(super) struct Splitter {
    ids: HashMap<Vec<u8>, u64, BuildHasherDefault<FxHasher>>,
    templates: Vec<u8>,
    n_templates: u64,
    line_ids: Vec<u8>,
    columns: Vec<Vec<u8>>,
    current: Vec<u8>,
    k: usize,
    last: usize,
}

impl Splitter {
    /// Cuts `line[from..to]` (the next variable of the current line) out.
    pub fn var(&mut self, line: &[u8], from: usize, to: usize) {
        self.current.extend_from_slice(&line[self.last..from]);
        self.current.push(HOLE);
        let col = self.k.min(MAX_COLUMNS - 1);
        if self.columns.len() <= col {
            self.columns.resize_with(col + 1, Vec::new);
        }
        self.columns[col].extend_from_slice(&line[from..to]);
        self.columns[col].push(b'\n');
        self.k += 1;
        self.last = to;
    }

    /// Ends `line`: its template gets an id. True when the template is new.
    pub fn end_line(&mut self, line: &[u8]) -> bool {
        self.current.extend_from_slice(&line[self.last..]);
        let (id, new) = match self.ids.get(&self.current) {
            Some(&id) => (id, false),
            None => {
                let id = self.n_templates;
                self.n_templates += 1;
                put_bytes(&mut self.templates, &self.current);
                self.ids.insert(self.current.clone(), id);
                (id, true)
            }
        };
        put_uvarint(&mut self.line_ids, id);
        self.current.clear();
        self.k = 0;
        self.last = 0;
        new
    }

    /// Writes the templates, ids and column table to `main` and the column frames to `frames`.
    pub fn finish(
        self,
        main: &mut Vec<u8>,
        frames: &mut Vec<u8>,
        z: &mut zstd::bulk::Compressor<'_>,
    ) -> std::io::Result<()> {
        put_uvarint(main, self.n_templates);
        main.extend_from_slice(&self.templates);
        main.extend_from_slice(&self.line_ids);
        put_uvarint(main, self.columns.len() as u64);
        for col in &self.columns {
            let c = z.compress(col)?;
            put_uvarint(main, c.len() as u64);
            put_uvarint(main, col.len() as u64);
            frames.extend_from_slice(&c);
        }
        Ok(())
    }
}

/// Rebuilds `n` lines from the split encoding read from `r` and the column `frames`; returns
/// the lines back to back and the end offset of each.
pub(super) fn join(
    r: &mut Reader<'_>,
    n: usize,
    frames: &[u8],
    dz: &mut zstd::bulk::Decompressor<'_>,
) -> Result<(Vec<u8>, Vec<usize>), DecodeError> {
    let max = r.remaining();
    let nt = r.len(max)?;
    let mut templates = Vec::with_capacity(nt.min(max));
    for _ in 0..nt {
        templates.push(r.len_bytes()?);
    }
    let mut ids = Vec::with_capacity(n);
    for _ in 0..n {
        ids.push(r.len(nt.saturating_sub(1))?);
    }
    if n > 0 && nt == 0 {
        return Err(err("split chunk without templates"));
    }
    let nc = r.len(MAX_COLUMNS)?;
    let mut columns = Vec::with_capacity(nc);
    let mut at = 0usize;
    for _ in 0..nc {
        let z = r.len(frames.len())?;
        let raw = r.len(256 << 20)?;
        let frame = frames.get(at..at + z).ok_or(err("variable column past the record"))?;
        at += z;
        let col = dz
            .decompress(frame, raw)
            .map_err(|_| err("variable column does not decompress"))?;
        columns.push(col);
    }
    if !r.is_empty() || at != frames.len() {
        return Err(err("trailing bytes after split lines"));
    }
    let mut cursors = vec![0usize; nc];
    let mut out = Vec::with_capacity(columns.iter().map(Vec::len).sum::<usize>() + n * 64);
    let mut ends = Vec::with_capacity(n);
    for id in ids {
        let mut k = 0;
        for &b in templates[id] {
            if b != HOLE {
                out.push(b);
                continue;
            }
            let c = k.min(MAX_COLUMNS - 1);
            let col = columns.get(c).ok_or(err("hole without a variable column"))?;
            let start = cursors[c];
            let len = col
                .get(start..)
                .and_then(|rest| rest.iter().position(|&x| x == b'\n'))
                .ok_or(err("variable column ran out"))?;
            out.extend_from_slice(&col[start..start + len]);
            cursors[c] = start + len + 1;
            k += 1;
        }
        ends.push(out.len());
    }
    if cursors.iter().zip(&columns).any(|(&c, col)| c != col.len()) {
        return Err(err("variable column has values left over"));
    }
    Ok((out, ends))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::tokens::for_each_token;

    fn split_join(lines: &[&str]) -> (usize, Vec<String>) {
        let mut s = Splitter::default();
        for l in lines {
            let b = l.as_bytes();
            for_each_token(l, |t| {
                if t.digit {
                    s.var(b, t.from, t.to);
                }
            });
            s.end_line(b);
        }
        let templates = s.n_templates as usize;
        let (mut main, mut frames) = (Vec::new(), Vec::new());
        s.finish(&mut main, &mut frames, &mut zstd::bulk::Compressor::new(3).unwrap())
            .unwrap();
        let mut r = Reader::new(&main);
        let mut dz = zstd::bulk::Decompressor::new().unwrap();
        let (bytes, ends) = join(&mut r, lines.len(), &frames, &mut dz).unwrap();
        let text = String::from_utf8(bytes).unwrap();
        let mut start = 0;
        let got = ends
            .iter()
            .map(|&e| {
                let l = text[start..e].to_owned();
                start = e;
                l
            })
            .collect();
        (templates, got)
    }

    #[test]
    fn round_trips_and_shares_templates() {
        let lines = [
            "GET /api/v2 200 took=13ms id=4bf92f35",
            "GET /api/v2 404 took=7ms id=00f067aa",
            "",
            "no variables here\nat all",
            "ünï 42ü 7",
            "GET /api/v2 500 took=1ms id=deadbeef",
        ];
        let (templates, got) = split_join(&lines);
        assert_eq!(got, lines);
        // The three GET lines share one template ("…id=deadbeef" has no digit: it stays).
        assert_eq!(templates, 5);
    }

    #[test]
    fn lines_with_more_variables_than_columns() {
        let long: String = (0..150).map(|i| format!("{i} ")).collect();
        let lines = [long.as_str(), "1 2 3", long.as_str()];
        assert_eq!(split_join(&lines).1, lines);
    }
}
