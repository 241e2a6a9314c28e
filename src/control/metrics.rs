//! Prometheus metrics of a status snapshot, encoded by `prometheus-client` in the Prometheus
//! text format (0.0.4). The agent's counters live in its servers; each scrape takes a
//! snapshot and a collector reports it, so nothing is counted twice.

use crate::agent::state::CableState;
use crate::agent::status::{AgentStatus, CableStatus};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};

/// The `Content-Type` of [`render`]'s output.
pub(crate) const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// A per-cable series: name (counters without `_total`), type, help and how to read it.
type PerCable = (
    &'static str,
    MetricType,
    &'static str,
    fn(&CableStatus) -> u64,
);

const PER_CABLE: [PerCable; 8] = [
    (
        "xvc_agent_cable_up",
        MetricType::Gauge,
        "1 when the cable is serving or busy.",
        |c| u64::from(matches!(c.state, CableState::Serving | CableState::Busy)),
    ),
    (
        "xvc_agent_client_connected",
        MetricType::Gauge,
        "1 while a client holds the JTAG session.",
        |c| u64::from(c.client.is_some()),
    ),
    (
        "xvc_agent_cable_reserved",
        MetricType::Gauge,
        "1 while the cable is reserved (`xvc-agent reserve`).",
        |c| u64::from(c.reservation.is_some()),
    ),
    (
        "xvc_agent_sessions",
        MetricType::Counter,
        "Client sessions served.",
        |c| c.sessions,
    ),
    (
        "xvc_agent_shifts",
        MetricType::Counter,
        "XVC shift commands executed.",
        |c| c.shifts,
    ),
    (
        "xvc_agent_shifted_bits",
        MetricType::Counter,
        "TCK cycles shifted for clients.",
        |c| c.bits,
    ),
    (
        "xvc_agent_usb_errors",
        MetricType::Counter,
        "Cable errors (USB failures, timeouts).",
        |c| c.usb_errors,
    ),
    (
        "xvc_agent_reconnects",
        MetricType::Counter,
        "Successful reopens after a cable error.",
        |c| c.reconnects,
    ),
];

/// A status snapshot as a collector.
#[derive(Debug)]
struct Snapshot(AgentStatus);

fn cable_labels(c: &CableStatus) -> Vec<(&'static str, String)> {
    vec![
        (
            "serial",
            c.serial.clone().unwrap_or_else(|| c.usb_path.clone()),
        ),
        ("port", c.port.map_or(String::new(), |p| p.to_string())),
    ]
}

fn value(
    encoder: prometheus_client::encoding::MetricEncoder<'_>,
    kind: MetricType,
    v: u64,
) -> Result<(), std::fmt::Error> {
    match kind {
        MetricType::Counter => ConstCounter::new(v).encode(encoder),
        _ => ConstGauge::new(v).encode(encoder),
    }
}

impl Collector for Snapshot {
    fn encode(&self, mut out: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let status = &self.0;
        encode_agent(&mut out, status)?;
        for (name, kind, help, read) in PER_CABLE {
            let mut m = out.encode_descriptor(name, help, None, kind)?;
            for c in &status.cables {
                let labels = cable_labels(c);
                value(m.encode_family(&labels)?, kind, read(c))?;
            }
        }
        encode_refused(&mut out, &status.cables)?;
        encode_shift_durations(&mut out, &status.cables)
    }
}

/// The agent's own series: its version, its reloads, its cables by state.
fn encode_agent(out: &mut DescriptorEncoder, status: &AgentStatus) -> Result<(), std::fmt::Error> {
    let mut m = out.encode_descriptor(
        "xvc_agent_build_info",
        "Version of the running agent.",
        None,
        MetricType::Gauge,
    )?;
    let version = [("version", status.version.clone())];
    ConstGauge::new(1u64).encode(m.encode_family(&version)?)?;

    let m = out.encode_descriptor(
        "xvc_agent_config_reloads",
        "Successful configuration reloads.",
        None,
        MetricType::Counter,
    )?;
    ConstCounter::new(status.reloads).encode(m)?;

    let mut m = out.encode_descriptor(
        "xvc_agent_cables",
        "Attached cables by state.",
        None,
        MetricType::Gauge,
    )?;
    for state in CableState::ALL {
        let n = status.cables.iter().filter(|c| c.state == state).count() as u64;
        let labels = [("state", state.to_string())];
        ConstGauge::new(n).encode(m.encode_family(&labels)?)?;
    }
    Ok(())
}

/// Connections refused per cable, by reason.
fn encode_refused(
    out: &mut DescriptorEncoder,
    cables: &[CableStatus],
) -> Result<(), std::fmt::Error> {
    let mut m = out.encode_descriptor(
        "xvc_agent_refused_connections",
        "Connections refused, by reason.",
        None,
        MetricType::Counter,
    )?;
    for c in cables {
        for (reason, n) in &c.refused {
            let mut labels = cable_labels(c);
            labels.push(("reason", reason.clone()));
            ConstCounter::new(*n).encode(m.encode_family(&labels)?)?;
        }
    }
    Ok(())
}

/// The per-cable histogram of shift durations.
fn encode_shift_durations(
    out: &mut DescriptorEncoder,
    cables: &[CableStatus],
) -> Result<(), std::fmt::Error> {
    let mut m = out.encode_descriptor(
        "xvc_agent_shift_duration",
        "Time the cable took per shift.",
        Some(&Unit::Seconds),
        MetricType::Histogram,
    )?;
    for c in cables {
        let h = &c.shift_latency;
        // The snapshot counts cumulatively; the encoder wants counts per bucket.
        let mut previous = 0;
        let buckets: Vec<(f64, u64)> = h
            .cumulative
            .iter()
            .enumerate()
            .map(|(i, &n)| {
                let bound = h.bounds.get(i).copied().unwrap_or(f64::INFINITY);
                let per_bucket = n.saturating_sub(previous);
                previous = n;
                (bound, per_bucket)
            })
            .collect();
        let total = h.cumulative.last().copied().unwrap_or(0);
        let labels = cable_labels(c);
        m.encode_family(&labels)?.encode_histogram::<NoLabelSet>(
            h.sum_seconds,
            total,
            &buckets,
            None,
        )?;
    }
    Ok(())
}

/// The Prometheus text exposition of `status`.
pub fn render(status: &AgentStatus) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Snapshot(status.clone())));
    let mut out = String::new();
    prometheus_client::encoding::prometheus_text::encode(&mut out, &registry)
        .expect("writing to a String cannot fail");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::status::Histogram;

    fn status() -> AgentStatus {
        AgentStatus {
            version: "0.1.0".into(),
            config: "t".into(),
            reloads: 2,
            unplugged_reservations: Default::default(),
            cables: vec![CableStatus {
                name: "a".into(),
                serial: Some("SIM\"1".into()),
                usb_path: "sim-1".into(),
                identity: "SIM1".into(),
                device: Some("Digilent JTAG-HS2".into()),
                profile: Some("hs2".into()),
                channel: Some("A".into()),
                identified_by: None,
                port: Some(2542),
                listen: None,
                state: CableState::Busy,
                reason: None,
                client: Some("127.0.0.1:5000".into()),
                client_since: None,
                client_idle_seconds: None,
                sessions: 3,
                shifts: 10,
                bits: 640,
                refused: [("busy".to_string(), 1u64)].into_iter().collect(),
                usb_errors: 0,
                reconnects: 0,
                shift_latency: Histogram {
                    bounds: vec![0.001, 0.01],
                    cumulative: vec![4, 9, 10],
                    sum_seconds: 0.05,
                },
                chain: vec![],
                simulated_fpga: vec![],
                reservation: Some(crate::agent::status::ReservationStatus {
                    owner: "alice".into(),
                    since: 1,
                    until: 2,
                    from: vec!["10.0.0.5/32".into()],
                    note: None,
                    session_continues: true,
                }),
            }],
        }
    }

    #[test]
    fn series_and_values() {
        let text = render(&status());
        for line in [
            "# TYPE xvc_agent_sessions_total counter",
            "xvc_agent_build_info{version=\"0.1.0\"} 1",
            "xvc_agent_config_reloads_total 2",
            "xvc_agent_cables{state=\"busy\"} 1",
            "xvc_agent_cable_reserved{serial=\"SIM\\\"1\",port=\"2542\"} 1",
            "xvc_agent_client_connected{serial=\"SIM\\\"1\",port=\"2542\"} 1",
            "xvc_agent_shifted_bits_total{serial=\"SIM\\\"1\",port=\"2542\"} 640",
            "xvc_agent_refused_connections_total{serial=\"SIM\\\"1\",port=\"2542\",reason=\"busy\"} 1",
            "xvc_agent_shift_duration_seconds_bucket{serial=\"SIM\\\"1\",port=\"2542\",le=\"0.01\"} 9",
            "xvc_agent_shift_duration_seconds_bucket{serial=\"SIM\\\"1\",port=\"2542\",le=\"+Inf\"} 10",
            "xvc_agent_shift_duration_seconds_count{serial=\"SIM\\\"1\",port=\"2542\"} 10",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
        }
    }
}
