//! The optional HTTP listener (`http.listen`): Prometheus metrics, the JSON API, this host's
//! status page and the lab page, served by hyper (HTTP/1.1).
//!
//! Read-only by construction: only `GET` and `HEAD` are answered, and every answer is computed
//! from a status snapshot or a DNS-SD browse. Peers are checked against the same `allow:` list
//! as the XVC ports before a byte is read; requests with oversized heads are answered 431 and
//! malformed ones 400 by hyper, unknown paths 404, other methods 405.

use super::metrics;
use super::page;
use crate::agent::handle::AgentHandle;
use crate::agent::status::AgentStatus;
use crate::xvc::access::{AccessPolicy, Verdict};
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, ALLOW, CACHE_CONTROL, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// Largest request head read (hyper's minimum buffer); more is answered 431.
const MAX_HEAD: usize = 8192;
/// A client must send its request head within this time.
const HEAD_TIMEOUT: Duration = Duration::from_secs(5);
/// How long `/lab` browses the network.
const LAB_BROWSE: Duration = Duration::from_secs(2);

/// The JSON API's prefix.
pub(crate) const API_CABLES: &str = "/api/v1/cables";

/// What a request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Route {
    Metrics,
    /// The whole status (the model of `xvc-agent status --json`).
    Cables,
    /// One cable, by name or serial.
    Cable(String),
    /// This host's status page.
    Page,
    /// The cables found on the network.
    Lab,
}

/// A request the listener answers without a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    NotFound,
    MethodNotAllowed,
    BadRequest,
}

/// Maps a method and path to a route. Pure.
pub(crate) fn route(method: &Method, path: &str) -> Result<Route, Refusal> {
    let known = match path {
        "/metrics" => Some(Route::Metrics),
        API_CABLES | "/api/v1/cables/" => Some(Route::Cables),
        "/" => Some(Route::Page),
        "/lab" => Some(Route::Lab),
        _ => None,
    };
    let route = match known {
        Some(r) => r,
        None => {
            let id = path
                .strip_prefix(API_CABLES)
                .and_then(|rest| rest.strip_prefix('/'))
                .filter(|id| !id.is_empty() && !id.contains('/'))
                .ok_or(Refusal::NotFound)?;
            Route::Cable(percent_decode(id).ok_or(Refusal::BadRequest)?)
        }
    };
    if method != Method::GET && method != Method::HEAD {
        return Err(Refusal::MethodNotAllowed);
    }
    Ok(route)
}

/// Decodes `%XX` escapes; `None` for a broken escape or bytes that are not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The cable `id` names: its rule name, serial or USB path.
pub(crate) fn find_cable<'s>(
    status: &'s AgentStatus,
    id: &str,
) -> Option<&'s crate::agent::status::CableStatus> {
    status
        .cables
        .iter()
        .find(|c| c.name == id || c.serial.as_deref() == Some(id))
        .or_else(|| status.cables.iter().find(|c| c.usb_path == id))
}

/// The host part of a `Host` header (`labpi:9542` → `labpi`, `[::1]:80` → `::1`).
pub(crate) fn host_part(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
}

/// What the listener needs from the agent.
pub struct HttpContext {
    pub agent: AgentHandle,
    pub policy: AccessPolicy,
}

/// Accepts connections on `listener` until the task is dropped.
pub async fn serve(listener: TcpListener, ctx: Arc<HttpContext>) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(conn) => conn,
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        match ctx.policy.check(peer.ip()) {
            Verdict::Refuse => {
                tracing::info!(peer = %peer, "HTTP: refused {peer} (not in allow:)");
                continue; // dropped unread
            }
            Verdict::AllowWithWarning => {
                tracing::warn!(peer = %peer, "HTTP: {peer} is not in allow: (access: permissive)")
            }
            Verdict::Allow => {}
        }
        let ctx = ctx.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let ctx = ctx.clone();
                async move { Ok::<_, Infallible>(handle(req, &ctx).await) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(HEAD_TIMEOUT)
                .max_buf_size(MAX_HEAD)
                // One request per connection: answers are small and a scrape every few
                // seconds gains nothing from idle connections held open.
                .keep_alive(false)
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
            if let Err(e) = conn.await {
                tracing::debug!("HTTP: connection from {peer}: {e}");
            }
        });
    }
}

fn respond(code: StatusCode, content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut res = Response::new(Full::new(Bytes::from(body)));
    *res.status_mut() = code;
    let h = res.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    if content_type.starts_with("text/html") {
        h.insert(
            "content-security-policy",
            HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'"),
        );
    }
    res
}

const TEXT: &str = "text/plain; charset=utf-8";
const JSON: &str = "application/json";
const HTML: &str = "text/html; charset=utf-8";

async fn snapshot(ctx: &HttpContext) -> Option<AgentStatus> {
    ctx.agent.status().await.ok()
}

async fn handle(req: Request<Incoming>, ctx: &HttpContext) -> Response<Full<Bytes>> {
    let route = match route(req.method(), req.uri().path()) {
        Ok(r) => r,
        Err(Refusal::NotFound) => {
            return respond(
                StatusCode::NOT_FOUND,
                TEXT,
                format!("not found; try / /lab /metrics {API_CABLES}\n"),
            )
        }
        Err(Refusal::BadRequest) => {
            return respond(StatusCode::BAD_REQUEST, TEXT, "bad cable name\n".into())
        }
        Err(Refusal::MethodNotAllowed) => {
            let mut res = respond(
                StatusCode::METHOD_NOT_ALLOWED,
                TEXT,
                "read-only: GET and HEAD only\n".into(),
            );
            res.headers_mut()
                .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
            return res;
        }
    };
    if route == Route::Lab {
        let found = crate::lab::browse::browse(LAB_BROWSE)
            .await
            .map_err(|e| e.to_string());
        return respond(StatusCode::OK, HTML, page::lab(&found));
    }
    let Some(status) = snapshot(ctx).await else {
        return respond(
            StatusCode::SERVICE_UNAVAILABLE,
            TEXT,
            "the agent is stopping\n".into(),
        );
    };
    match route {
        Route::Metrics => respond(
            StatusCode::OK,
            metrics::CONTENT_TYPE,
            metrics::render(&status),
        ),
        Route::Cables => respond(StatusCode::OK, JSON, json(&status)),
        Route::Cable(id) => match find_cable(&status, &id) {
            Some(cable) => respond(StatusCode::OK, JSON, json(cable)),
            None => respond(
                StatusCode::NOT_FOUND,
                TEXT,
                format!("no cable named {id:?} is attached\n"),
            ),
        },
        Route::Page => {
            let host = req
                .headers()
                .get(hyper::header::HOST)
                .and_then(|h| h.to_str().ok())
                .map(host_part)
                .filter(|h| !h.is_empty())
                .unwrap_or("localhost");
            respond(
                StatusCode::OK,
                HTML,
                page::status(&status, host, std::time::SystemTime::now()),
            )
        }
        Route::Lab => unreachable!("answered above"),
    }
}

fn json(value: &impl serde::Serialize) -> String {
    let mut out = serde_json::to_string_pretty(value).unwrap_or_default();
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        let get = Method::GET;
        assert_eq!(route(&get, "/"), Ok(Route::Page));
        assert_eq!(route(&Method::HEAD, "/metrics"), Ok(Route::Metrics));
        assert_eq!(route(&get, "/api/v1/cables"), Ok(Route::Cables));
        assert_eq!(
            route(&get, "/api/v1/cables/bench%20a"),
            Ok(Route::Cable("bench a".into()))
        );
        assert_eq!(route(&get, "/api/v1/cables/a/b"), Err(Refusal::NotFound));
        assert_eq!(route(&get, "/api/v1/cables/%zz"), Err(Refusal::BadRequest));
        assert_eq!(route(&get, "/api/v1/cables/%ff"), Err(Refusal::BadRequest));
        assert_eq!(route(&get, "/etc/passwd"), Err(Refusal::NotFound));
        assert_eq!(route(&Method::POST, "/"), Err(Refusal::MethodNotAllowed));
        assert_eq!(
            route(&Method::DELETE, "/api/v1/cables/x"),
            Err(Refusal::MethodNotAllowed)
        );
    }

    #[test]
    fn host_header() {
        assert_eq!(host_part("labpi:9542"), "labpi");
        assert_eq!(host_part("labpi"), "labpi");
        assert_eq!(host_part("[::1]:9542"), "::1");
        assert_eq!(host_part("10.0.0.2:80"), "10.0.0.2");
    }
}
