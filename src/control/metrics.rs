//! Prometheus metrics: a pure renderer from the status snapshot to the text exposition
//! format, and a minimal HTTP endpoint (`GET /metrics`) serving it. Opt-in (`metrics.listen`).

use crate::agent::state::CableState;
use crate::agent::status::{AgentStatus, CableStatus};
use crate::agent::supervisor::Input;
use std::fmt::Write as _;
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};

/// Escapes a label value.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn cable_labels(c: &CableStatus) -> String {
    format!(
        "serial=\"{}\",port=\"{}\"",
        label(c.serial.as_deref().unwrap_or(&c.usb_path)),
        c.port.map_or(String::new(), |p| p.to_string())
    )
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// A per-cable series: name, type, help text and how to read it from the status.
type PerCableMetric = (
    &'static str,
    &'static str,
    &'static str,
    fn(&CableStatus) -> u64,
);

/// Renders the Prometheus text format for `status`.
pub fn render(status: &AgentStatus) -> String {
    let mut out = String::new();
    header(
        &mut out,
        "xvc_agent_build_info",
        "gauge",
        "Version of the running agent.",
    );
    let _ = writeln!(
        out,
        "xvc_agent_build_info{{version=\"{}\"}} 1",
        label(&status.version)
    );
    header(
        &mut out,
        "xvc_agent_config_reloads_total",
        "counter",
        "Successful configuration reloads.",
    );
    let _ = writeln!(out, "xvc_agent_config_reloads_total {}", status.reloads);

    header(
        &mut out,
        "xvc_agent_cables",
        "gauge",
        "Attached cables by state.",
    );
    for state in CableState::ALL {
        let n = status.cables.iter().filter(|c| c.state == state).count();
        let _ = writeln!(out, "xvc_agent_cables{{state=\"{state}\"}} {n}");
    }

    let per_cable: [PerCableMetric; 6] = [
        (
            "xvc_agent_cable_up",
            "gauge",
            "1 when the cable is serving or busy.",
            |c| u64::from(matches!(c.state, CableState::Serving | CableState::Busy)),
        ),
        (
            "xvc_agent_client_connected",
            "gauge",
            "1 while a client holds the JTAG session.",
            |c| u64::from(c.client.is_some()),
        ),
        (
            "xvc_agent_sessions_total",
            "counter",
            "Client sessions served.",
            |c| c.sessions,
        ),
        (
            "xvc_agent_shifts_total",
            "counter",
            "XVC shift commands executed.",
            |c| c.shifts,
        ),
        (
            "xvc_agent_shifted_bits_total",
            "counter",
            "TCK cycles shifted for clients.",
            |c| c.bits,
        ),
        (
            "xvc_agent_usb_errors_total",
            "counter",
            "Cable errors (USB failures, timeouts).",
            |c| c.usb_errors,
        ),
    ];
    for (name, kind, help, value) in per_cable {
        header(&mut out, name, kind, help);
        for c in &status.cables {
            let _ = writeln!(out, "{name}{{{}}} {}", cable_labels(c), value(c));
        }
    }
    header(
        &mut out,
        "xvc_agent_reconnects_total",
        "counter",
        "Successful reopens after a cable error.",
    );
    for c in &status.cables {
        let _ = writeln!(
            out,
            "xvc_agent_reconnects_total{{{}}} {}",
            cable_labels(c),
            c.reconnects
        );
    }
    header(
        &mut out,
        "xvc_agent_refused_connections_total",
        "counter",
        "Connections refused, by reason.",
    );
    for c in &status.cables {
        for (reason, n) in &c.refused {
            let _ = writeln!(
                out,
                "xvc_agent_refused_connections_total{{{},reason=\"{}\"}} {n}",
                cable_labels(c),
                label(reason)
            );
        }
    }
    header(
        &mut out,
        "xvc_agent_shift_duration_seconds",
        "histogram",
        "Time the cable took per shift.",
    );
    for c in &status.cables {
        let h = &c.shift_latency;
        let labels = cable_labels(c);
        for (i, count) in h.cumulative.iter().enumerate() {
            let le = h
                .bounds
                .get(i)
                .map_or("+Inf".to_string(), |b| b.to_string());
            let _ = writeln!(
                out,
                "xvc_agent_shift_duration_seconds_bucket{{{labels},le=\"{le}\"}} {count}"
            );
        }
        let total = h.cumulative.last().copied().unwrap_or(0);
        let _ = writeln!(
            out,
            "xvc_agent_shift_duration_seconds_sum{{{labels}}} {}",
            h.sum_seconds
        );
        let _ = writeln!(
            out,
            "xvc_agent_shift_duration_seconds_count{{{labels}}} {total}"
        );
    }
    out
}

/// Serves `GET /metrics` on `addr` until the task is dropped.
pub async fn serve(listener: tokio::net::TcpListener, inputs: mpsc::UnboundedSender<Input>) {
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            continue;
        };
        let inputs = inputs.clone();
        tokio::spawn(async move {
            let mut req = Vec::with_capacity(1024);
            let mut buf = [0u8; 1024];
            // Read the request head (bounded), with a deadline against slow clients.
            let read_head = async {
                while !req.windows(4).any(|w| w == b"\r\n\r\n") && req.len() < 8192 {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return false,
                        Ok(n) => req.extend_from_slice(&buf[..n]),
                    }
                }
                true
            };
            let complete = tokio::time::timeout(std::time::Duration::from_secs(5), read_head)
                .await
                .unwrap_or(false);
            if !complete {
                return;
            }
            let first = String::from_utf8_lossy(&req);
            let target = first.split_whitespace().nth(1).unwrap_or("");
            let (code, body) =
                if first.starts_with("GET ") && (target == "/metrics" || target == "/") {
                    let (tx, rx) = oneshot::channel();
                    let _ = inputs.send(Input::Status(tx));
                    match rx.await {
                        Ok(status) => ("200 OK", render(&status)),
                        Err(_) => ("503 Service Unavailable", "stopping\n".to_string()),
                    }
                } else {
                    ("404 Not Found", "try /metrics\n".to_string())
                };
            let head = format!(
                "HTTP/1.1 {code}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes()).await;
            let _ = stream.write_all(body.as_bytes()).await;
        });
    }
}

/// Binds the metrics address.
pub async fn bind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr).await
}
