//! Target discovery: `static_configs` and `file_sd_configs`.
//!
//! File SD reads JSON (`*.json`) or YAML (`*.yml`, `*.yaml`) files holding a list of
//! `{targets: [...], labels: {...}}` groups, as Prometheus does; the last path element may be
//! a glob. Files are polled (modification time and size, every few seconds, at most the
//! configured `refresh_interval`); a file that fails to parse keeps its last good groups and
//! logs the error. Each target gets `__meta_filepath`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::config::scrape::{FileSdConfig, StaticConfig};

use super::relabel::LabelMap;

/// The longest pause between two polls of the SD files.
pub const MAX_POLL: Duration = Duration::from_secs(5);

/// Discovered targets of `static_configs`, one label map (with `__address__`) per target.
pub fn static_targets(groups: &[StaticConfig]) -> Vec<LabelMap> {
    let mut out = Vec::new();
    for g in groups {
        for t in &g.targets {
            out.push(group_target(g, t));
        }
    }
    out
}

fn group_target(g: &StaticConfig, target: &str) -> LabelMap {
    let mut lm: LabelMap = g
        .labels
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    lm.insert("__address__".to_owned(), target.to_owned());
    lm
}

#[derive(Debug)]
struct FileState {
    mtime: Option<SystemTime>,
    len: u64,
    targets: Vec<LabelMap>,
}

/// The state of a job's `file_sd_configs`: which files exist and their last good targets.
#[derive(Debug, Default)]
pub struct FileSd {
    patterns: Vec<String>,
    files: BTreeMap<PathBuf, FileState>,
    poll: Option<Duration>,
}

impl FileSd {
    /// Watches the files of these configs (none: a no-op).
    pub fn new(cfgs: &[FileSdConfig]) -> Self {
        let patterns: Vec<String> = cfgs
            .iter()
            .flat_map(|c| c.files.iter().map(|p| p.to_string_lossy().into_owned()))
            .collect();
        let poll = cfgs
            .iter()
            .map(|c| c.refresh_interval.map_or(MAX_POLL, |d| d.get().min(MAX_POLL)))
            .min()
            .map(|d| d.max(Duration::from_millis(100)));
        FileSd {
            patterns,
            files: BTreeMap::new(),
            poll,
        }
    }

    /// How often to call [`FileSd::refresh`]; `None` when there are no files to watch.
    pub fn poll_interval(&self) -> Option<Duration> {
        self.poll
    }

    /// Re-reads files that appeared, changed or vanished; true if the targets may differ.
    pub fn refresh(&mut self) -> bool {
        let mut seen: Vec<PathBuf> = Vec::new();
        for pat in &self.patterns {
            match glob::glob(pat) {
                Ok(paths) => seen.extend(paths.filter_map(Result::ok)),
                Err(e) => tracing::warn!(pattern = %pat, error = %e, "invalid file_sd pattern"),
            }
        }
        seen.sort();
        seen.dedup();
        let mut changed = false;
        let before = self.files.len();
        self.files.retain(|p, _| seen.binary_search(p).is_ok());
        changed |= self.files.len() != before;
        for path in seen {
            let meta = std::fs::metadata(&path).ok();
            let mtime = meta.as_ref().and_then(|m| m.modified().ok());
            let len = meta.as_ref().map_or(0, std::fs::Metadata::len);
            if let Some(st) = self.files.get(&path)
                && st.mtime == mtime
                && st.len == len
            {
                continue;
            }
            changed = true;
            match read_file(&path) {
                Ok(targets) => {
                    self.files.insert(path, FileState { mtime, len, targets });
                }
                Err(e) => {
                    tracing::error!(file = %path.display(), error = %e, "file_sd: cannot read targets; keeping the last good ones");
                    let st = self.files.entry(path).or_insert(FileState {
                        mtime,
                        len,
                        targets: Vec::new(),
                    });
                    st.mtime = mtime;
                    st.len = len;
                }
            }
        }
        changed
    }

    /// All targets of all files.
    pub fn targets(&self) -> impl Iterator<Item = &LabelMap> {
        self.files.values().flat_map(|f| f.targets.iter())
    }
}

/// Reads one SD file into targets with `__meta_filepath`.
pub fn read_file(path: &Path) -> Result<Vec<LabelMap>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    let groups: Vec<StaticConfig> = match ext {
        "json" => serde_json::from_str(&text).map_err(|e| e.to_string())?,
        "yml" | "yaml" => {
            if text.trim().is_empty() {
                Vec::new()
            } else {
                serde_saphyr::from_str(&text).map_err(|e| e.to_string())?
            }
        }
        _ => return Err("only json, yml or yaml files are supported".to_owned()),
    };
    let mut out = Vec::new();
    for g in &groups {
        for name in g.labels.keys() {
            if !nerve_storage::labels::is_valid_label_name(name) {
                return Err(format!("{name:?} is not a valid label name"));
            }
        }
        for t in &g.targets {
            if t.contains('/') {
                return Err(format!("target {t:?} must not contain a path or scheme"));
            }
            let mut lm = group_target(g, t);
            lm.insert("__meta_filepath".to_owned(), path.to_string_lossy().into_owned());
            out.push(lm);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_and_yaml_files_with_globs_and_changes() {
        let dir = tempfile::tempdir().unwrap();
        let json = dir.path().join("a.json");
        std::fs::write(&json, r#"[{"targets": ["h1:1", "h2:2"], "labels": {"env": "prod"}}]"#).unwrap();
        std::fs::write(dir.path().join("b.yml"), "- targets: ['h3:3']\n").unwrap();
        std::fs::write(dir.path().join("ignored.txt"), "x").unwrap();
        let cfg = FileSdConfig {
            files: vec![dir.path().join("*.json"), dir.path().join("*.yml")],
            refresh_interval: None,
        };
        let mut sd = FileSd::new(&[cfg]);
        assert_eq!(sd.poll_interval(), Some(MAX_POLL));
        assert!(sd.refresh());
        let addrs = |sd: &FileSd| sd.targets().map(|t| t["__address__"].clone()).collect::<Vec<_>>();
        assert_eq!(addrs(&sd), ["h1:1", "h2:2", "h3:3"]);
        let first = sd.targets().next().unwrap();
        assert_eq!(first["env"], "prod");
        assert_eq!(first["__meta_filepath"], json.to_string_lossy());
        assert!(!sd.refresh(), "nothing changed");
        // A broken file keeps its last good targets.
        std::fs::write(&json, "[{").unwrap();
        assert!(sd.refresh());
        assert_eq!(addrs(&sd), ["h1:1", "h2:2", "h3:3"]);
        // A fixed file is picked up; a removed one disappears.
        std::fs::write(&json, r#"[{"targets": ["h9:9"]}]"#).unwrap();
        std::fs::remove_file(dir.path().join("b.yml")).unwrap();
        assert!(sd.refresh());
        assert_eq!(addrs(&sd), ["h9:9"]);
    }

    #[test]
    fn bad_files_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.json");
        std::fs::write(&p, r#"[{"targets": ["http://h:1/x"]}]"#).unwrap();
        assert!(read_file(&p).is_err());
        std::fs::write(&p, r#"[{"targets": ["h:1"], "labels": {"bad-name": "x"}}]"#).unwrap();
        assert!(read_file(&p).is_err());
        let t = dir.path().join("x.txt");
        std::fs::write(&t, "[]").unwrap();
        assert!(read_file(&t).unwrap_err().contains("json, yml or yaml"));
    }
}
