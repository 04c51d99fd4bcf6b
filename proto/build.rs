//! Compiles nerve's remote-write and Loki push `.proto` files with `protox` (pure Rust, no
//! `protoc` needed) and generates the prost types into `OUT_DIR`.

use std::error::Error;

const PROTO_ROOT: &str = "proto";
const FILES: [&str; 3] = [
    "prometheus/remote_write.proto",
    "io/prometheus/write/v2/request.proto",
    "loki/push.proto",
];

fn main() -> Result<(), Box<dyn Error>> {
    println!("cargo:rerun-if-changed={PROTO_ROOT}");
    for file in FILES {
        println!("cargo:rerun-if-changed={PROTO_ROOT}/{file}");
    }
    let fds = protox::compile(FILES, [PROTO_ROOT])?;
    prost_build::Config::new().compile_fds(fds)?;
    Ok(())
}
