//! The web UI end to end in Debian's headless Chromium (driven by playwright-core from
//! `ui/e2e/e2e.mjs`): nerve serves its embedded UI and runs the demo shop; the script runs a
//! PromQL query and sees a chart, clicks an exemplar into its trace, goes from a log line's
//! trace id to the waterfall, from a span to its logs, opens a service's RED panel, measures
//! first render and panning a 10k-point chart, and logs into a second nerve that has auth on.
//! Screenshots of every step land in `target/ui-e2e-screenshots/`.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::{Nerve, require};

#[test]
fn ui_end_to_end_in_headless_chromium() {
    let chromium = require("chromium");
    let node = require("node");
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    // build.rs ran `npm ci` in ui/ (playwright-core is a dev dependency there).
    assert!(
        root.join("ui/node_modules/playwright-core").is_dir(),
        "ui/node_modules is missing playwright-core: run `npm ci` in ui/"
    );
    let dir = tempfile::tempdir().unwrap();
    let n = Nerve::start(&dir.path().join("demo"), &["--demo"]);
    // A second nerve with auth on: the UI must ask for credentials and then work (step 08).
    let cfg = dir.path().join("auth.yml");
    std::fs::write(
        &cfg,
        "auth:\n  read:\n    bearer_token: r\n  write:\n    bearer_token: w\n",
    )
    .unwrap();
    let with_auth = Nerve::start(&dir.path().join("auth"), &["--config", cfg.to_str().unwrap()]);
    let shots = root.join("target/ui-e2e-screenshots");
    let out = Command::new(node)
        .arg(root.join("ui/e2e/e2e.mjs"))
        .env("NERVE_URL", n.url(""))
        .env("NERVE_AUTH_URL", with_auth.url(""))
        .env("NERVE_AUTH_TOKEN", "r")
        .env("SCREENSHOT_DIR", &shots)
        .env("CHROMIUM", chromium)
        .current_dir(root.join("ui"))
        .output()
        .expect("run node ui/e2e/e2e.mjs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("{stdout}\n{stderr}");
    assert!(out.status.success(), "UI end-to-end test failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("0 failed"), "{stdout}");
    for step in std::fs::read_dir(&shots).unwrap() {
        let p = step.unwrap().path();
        assert!(
            std::fs::metadata(&p).unwrap().len() > 1000,
            "empty screenshot {}",
            p.display()
        );
    }
}
