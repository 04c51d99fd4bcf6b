//! `/-/quit`: 403 unless `server.enable_quit`; with it, a clean shutdown (exit 0) that keeps
//! what was written, and it sits behind the write credentials.

mod common;

use std::time::Duration;

use common::{Nerve, client};

#[test]
fn quit_is_off_by_default_and_shuts_down_cleanly_when_enabled() {
    let dir = tempfile::tempdir().unwrap();
    let n = Nerve::start(&dir.path().join("a"), &[]);
    let r = client().post(n.url("/-/quit")).send().unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.text().unwrap().contains("not enabled"));
    assert_eq!(
        n.get_json("/api/v1/status/buildinfo")["status"],
        "success",
        "still serving"
    );
    drop(n);

    let cfg = dir.path().join("nerve.yml");
    std::fs::write(
        &cfg,
        "server:\n  enable_quit: true\nauth:\n  write:\n    bearer_token: w\n",
    )
    .unwrap();
    let mut n = Nerve::start(&dir.path().join("b"), &["--config", cfg.to_str().unwrap()]);
    assert_eq!(
        client().post(n.url("/-/quit")).send().unwrap().status(),
        401,
        "behind write auth"
    );
    let r = client().put(n.url("/-/quit")).bearer_auth("w").send().unwrap();
    assert_eq!(r.status(), 200);
    let status = n
        .wait_exit(Duration::from_secs(60))
        .unwrap_or_else(|| panic!("nerve did not exit; log:\n{}", n.logs()));
    assert!(status.success(), "{status:?}\n{}", n.logs());
    assert!(n.logs().contains("closing metrics TSDB"), "clean shutdown path ran");
}
