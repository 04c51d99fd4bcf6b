# nerve in a container: build with the Rust toolchain, run from a small Debian image as an
# unprivileged user with the data in a volume.
#   docker build -t nerve .
#   docker run -p 9090:9090 -p 4317:4317 -p 4318:4318 -v nerve-data:/data nerve
# Configuration: mount a file and add `--config /etc/nerve/nerve.yml` to the command.

FROM rust:1-bookworm AS build
# build.rs bundles the web UI with npm (esbuild).
RUN apt-get update \
 && apt-get install -y --no-install-recommends nodejs npm \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --profile dist --locked --bin nerve \
 && install -D -m 0755 target/dist/nerve /out/nerve

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 nerve \
 && useradd --system --uid 10001 --gid nerve --home-dir /data --shell /usr/sbin/nologin nerve \
 && mkdir -p /data /etc/nerve \
 && chown nerve:nerve /data
COPY --from=build /out/nerve /usr/local/bin/nerve
USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
EXPOSE 9090 4317 4318
ENTRYPOINT ["/usr/local/bin/nerve"]
CMD ["serve", "--data-dir", "/data", "--log.format", "logfmt"]
