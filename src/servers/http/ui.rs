//! The web UI: the files `build.rs` bundled from `ui/` into `$OUT_DIR/ui`, embedded in the
//! binary. `/` is the single page (the UI routes with the URL fragment, so no other paths
//! are needed) and `/assets/*` its scripts and styles. Served without authentication: the
//! page itself holds no data and asks for credentials when the APIs answer 401.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use rust_embed::RustEmbed;

use crate::state::AppState;

/// The built UI.
#[derive(RustEmbed)]
#[folder = "$OUT_DIR/ui"]
struct Assets;

/// `/` and `/assets/{*path}`, gzip-compressed for clients that accept it.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(index))
        .route("/index.html", get(index))
        .route("/assets/{*path}", get(asset))
        .layer(tower_http::compression::CompressionLayer::new().gzip(true).zstd(true))
}

async fn index(headers: HeaderMap) -> Response {
    serve("index.html", &headers)
}

async fn asset(Path(path): Path<String>, headers: HeaderMap) -> Response {
    serve(&format!("assets/{path}"), &headers)
}

/// One embedded file with its type and an `ETag`; 304 when the client has it already.
fn serve(path: &str, headers: &HeaderMap) -> Response {
    let Some(file) = Assets::get(path) else {
        return (StatusCode::NOT_FOUND, "not found\n").into_response();
    };
    let etag = format!(
        "\"{}\"",
        file.metadata
            .sha256_hash()
            .iter()
            .take(12)
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    let mut resp = if headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == etag.as_bytes())
    {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut r = file.data.into_owned().into_response();
        let mime = HeaderValue::from_str(file.metadata.mimetype())
            .unwrap_or(HeaderValue::from_static("application/octet-stream"));
        r.headers_mut().insert(header::CONTENT_TYPE, mime);
        r
    };
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    // Asset names carry no hash: revalidate every time (a 304 is cheap).
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt as _;

    #[tokio::test]
    async fn serves_the_page_and_its_assets() {
        let dir = tempfile::tempdir().unwrap();
        let (state, _tsdb) = AppState::for_tests(dir.path(), Default::default());
        let app = routes().with_state(state);
        let resp = app
            .clone()
            .oneshot(Request::get("/").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert!(
            resp.headers()[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        let etag = resp.headers()[header::ETAG].clone();
        let body = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
        let html = String::from_utf8(body.to_vec()).unwrap();
        assert!(html.contains("/assets/app.js"), "{html}");
        for (path, mime) in [("/assets/app.js", "javascript"), ("/assets/app.css", "text/css")] {
            let resp = app
                .clone()
                .oneshot(
                    Request::get(path)
                        .header("accept-encoding", "gzip")
                        .body(Body::empty())
                        .unwrap(),
                )
                .await
                .unwrap();
            assert_eq!(resp.status(), 200, "{path}");
            assert!(
                resp.headers()[header::CONTENT_TYPE].to_str().unwrap().contains(mime),
                "{path}"
            );
            assert_eq!(resp.headers()[header::CONTENT_ENCODING], "gzip", "{path}");
        }
        let resp = app
            .clone()
            .oneshot(
                Request::get("/")
                    .header("if-none-match", etag)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(resp.status(), 304);
        let resp = app
            .oneshot(Request::get("/assets/nope.js").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(resp.status(), 404);
    }
}
