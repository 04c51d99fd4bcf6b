//! Packaging checks that need no Docker daemon: the Dockerfile's structure (multi-stage, a
//! non-root user, the three ports, the data volume, the `dist` profile it builds with), the
//! systemd unit (`systemd-analyze verify` when the machine has it, pointed at the built
//! binary), and the log flags the two use.

use std::path::Path;
use std::process::Command;

fn read(path: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Instructions of a Dockerfile: (keyword, arguments), continuation lines joined.
fn instructions(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for line in text.lines() {
        let l = line.trim();
        if l.starts_with('#') || (l.is_empty() && cur.is_empty()) {
            continue;
        }
        if let Some(body) = l.strip_suffix('\\') {
            cur.push_str(body);
            cur.push(' ');
            continue;
        }
        cur.push_str(l);
        let (k, v) = cur.split_once(char::is_whitespace).unwrap_or((&cur, ""));
        out.push((k.to_ascii_uppercase(), v.trim().to_owned()));
        cur.clear();
    }
    out
}

#[test]
fn dockerfile_is_multi_stage_non_root_with_ports_and_volume() {
    let ins = instructions(&read("Dockerfile"));
    let froms: Vec<&String> = ins.iter().filter(|(k, _)| k == "FROM").map(|(_, v)| v).collect();
    assert!(froms.len() >= 2, "multi-stage: {froms:?}");
    assert!(froms[0].contains(" AS "), "the build stage is named: {froms:?}");
    let run_stage = ins.iter().rposition(|(k, _)| k == "FROM").unwrap();
    let last = &ins[run_stage..];
    let arg = |k: &str| {
        last.iter()
            .filter(|(x, _)| x == k)
            .map(|(_, v)| v.clone())
            .collect::<Vec<_>>()
    };
    // The runtime stage: the binary comes from the build stage, runs as a non-root user.
    assert!(arg("COPY").iter().any(|c| c.contains("--from=")), "{:?}", arg("COPY"));
    let user = arg("USER");
    assert_eq!(user.len(), 1, "one USER in the runtime stage");
    let uid = user[0].split(':').next().unwrap();
    assert!(uid != "root" && uid != "0", "non-root user: {uid}");
    let mut ports: Vec<&str> = Vec::new();
    let exposed = arg("EXPOSE");
    for e in &exposed {
        ports.extend(e.split_whitespace());
    }
    for p in ["9090", "4317", "4318"] {
        assert!(ports.contains(&p), "EXPOSE {p}: {ports:?}");
    }
    assert!(arg("VOLUME").iter().any(|v| v.contains("/data")), "{:?}", arg("VOLUME"));
    assert!(arg("CMD").iter().any(|c| c.contains("/data")), "data dir is the volume");
    // It builds with the dist profile, which exists.
    assert!(
        ins.iter().any(|(k, v)| k == "RUN" && v.contains("--profile dist")),
        "builds --profile dist"
    );
    let cargo = read("Cargo.toml");
    assert!(cargo.contains("[profile.dist]"), "Cargo.toml has a dist profile");
    let ignore = read(".dockerignore");
    assert!(
        ignore.lines().any(|l| l.trim() == "target"),
        "target/ stays out of the build context"
    );
}

#[test]
fn systemd_unit_verifies() {
    let unit = read("packaging/nerve.service");
    for key in ["ExecStart=", "ExecReload=", "Restart=", "StateDirectory=", "WantedBy="] {
        assert!(unit.contains(key), "unit has {key}");
    }
    // The flags the unit passes exist.
    let exec = unit.lines().find(|l| l.starts_with("ExecStart=")).unwrap();
    for flag in exec.split_whitespace().filter(|w| w.starts_with("--")) {
        let help = Command::new(env!("CARGO_BIN_EXE_nerve"))
            .args(["serve", "--help"])
            .output()
            .unwrap();
        assert!(
            String::from_utf8_lossy(&help.stdout).contains(flag),
            "nerve serve knows {flag}"
        );
    }
    let Ok(which) = Command::new("sh").args(["-c", "command -v systemd-analyze"]).output() else {
        return;
    };
    if !which.status.success() {
        eprintln!("systemd-analyze not installed: structure checked only");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("nerve.service");
    std::fs::write(
        &local,
        unit.replace("/usr/local/bin/nerve", env!("CARGO_BIN_EXE_nerve")),
    )
    .unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&local)
        .output()
        .unwrap();
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "systemd-analyze verify: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn logfmt_and_level_flags() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_nerve"))
        .args(["serve", "--log.format", "logfmt", "--log.level", "warn", "--config"])
        .arg(dir.path().join("missing.yml"))
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let line = err
        .lines()
        .find(|l| l.contains("level=error"))
        .unwrap_or_else(|| panic!("{err}"));
    assert!(line.starts_with("ts=") && line.contains(" msg="), "{line}");
    assert!(!err.contains("level=info"), "warn level hides info: {err}");
}
