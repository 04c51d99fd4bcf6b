//! What this binary is: version and build details for `--version`, `/api/v1/status/buildinfo`
//! and the `nerve_build_info` metric.
//!
//! The revision, branch, user and date come from environment variables set at build time
//! (`NERVE_REVISION`, `NERVE_BRANCH`, `NERVE_BUILD_USER`, `NERVE_BUILD_DATE`) by release
//! scripts; a plain `cargo build` leaves them `unknown`.

/// The crate version, e.g. `0.1.0`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// Git revision the binary was built from.
pub const REVISION: &str = or_unknown(option_env!("NERVE_REVISION"));
/// Git branch the binary was built from.
pub const BRANCH: &str = or_unknown(option_env!("NERVE_BRANCH"));
/// Who built it.
pub const BUILD_USER: &str = or_unknown(option_env!("NERVE_BUILD_USER"));
/// When it was built.
pub const BUILD_DATE: &str = or_unknown(option_env!("NERVE_BUILD_DATE"));
/// The toolchain, reported where Prometheus reports `goVersion`.
pub const TOOLCHAIN: &str = concat!("rust (edition 2024, msrv ", env!("CARGO_PKG_RUST_VERSION"), ")");

const fn or_unknown(v: Option<&'static str>) -> &'static str {
    match v {
        Some(s) => s,
        None => "unknown",
    }
}
