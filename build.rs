//! Builds the web UI (TypeScript in `ui/`, bundled by esbuild through npm) into
//! `$OUT_DIR/ui`, which `src/servers/http/ui.rs` embeds with rust-embed. So a plain
//! `cargo build` of a fresh clone produces a binary with a working UI; it needs Node.js (18 or
//! newer) and npm, and the npm registry the first time (`npm ci` fills `ui/node_modules`).

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let ui = root.join("ui");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR")).join("ui");
    for p in ["src", "index.html", "build.mjs", "package.json", "package-lock.json"] {
        println!("cargo:rerun-if-changed=ui/{p}");
    }
    if !installed(&ui) {
        run(
            Command::new(npm())
                .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
                .current_dir(&ui),
            "npm ci",
        );
    }
    run(
        Command::new("node")
            .arg("build.mjs")
            .env("NERVE_UI_OUT", &out)
            .current_dir(&ui),
        "node build.mjs",
    );
    if !out.join("index.html").is_file() {
        panic!("building the web UI produced no {}", out.join("index.html").display());
    }
}

/// Whether `ui/node_modules` matches `ui/package-lock.json` (npm writes its own copy of the
/// lock into `node_modules/.package-lock.json` on install).
fn installed(ui: &Path) -> bool {
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    match (
        modified(&ui.join("node_modules/.package-lock.json")),
        modified(&ui.join("package-lock.json")),
    ) {
        (Some(installed), Some(lock)) => installed >= lock,
        _ => false,
    }
}

fn npm() -> &'static str {
    if cfg!(windows) { "npm.cmd" } else { "npm" }
}

fn run(cmd: &mut Command, what: &str) {
    match cmd.status() {
        Ok(s) if s.success() => {}
        Ok(s) => panic!("building the web UI: `{what}` in ui/ failed ({s}); see its output above"),
        Err(e) => panic!(
            "building the web UI: cannot run `{what}` ({e}). nerve's build needs Node.js 18+ and npm \
             (Debian: apt-get install nodejs npm)"
        ),
    }
}
