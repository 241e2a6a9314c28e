//! The status pages, rendered on the server as plain HTML (no JavaScript; a `refresh` meta tag
//! reloads them): `/` for this host's cables, `/lab` for the cables browsing finds. Pure.

use crate::agent::state::CableState;
use crate::agent::status::{AgentStatus, CableStatus};
use crate::lab::service::{vivado_line, LabCable};
use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds between reloads of a page.
const REFRESH_S: u32 = 5;

/// Escapes text for HTML content and attribute values.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}\
table{border-collapse:collapse;margin-top:1em}\
th,td{border-bottom:1px solid #ddd;padding:.35em .8em;text-align:left;vertical-align:top}\
th{background:#f3f3f3}code{font-size:.9em;user-select:all}\
.serving{color:#176c2b}.busy{color:#9a5b00}.queued,.starting{color:#555}\
.degraded,.offline,.error{color:#b00020}.reason{font-size:.85em;color:#666}\
nav a{margin-right:1em}.reservation{font-size:.85em;color:#6a1b9a}";

fn head(out: &mut String, title: &str) {
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta http-equiv=\"refresh\" content=\"{REFRESH_S}\">\
<meta name=\"viewport\" content=\"width=device-width\">\
<title>{}</title><style>{STYLE}</style></head><body>\n\
<nav><a href=\"/\">This host</a><a href=\"/lab\">Lab</a>\
<a href=\"/api/v1/cables\">JSON</a><a href=\"/metrics\">Metrics</a></nav>\n<h1>{}</h1>\n",
        esc(title),
        esc(title)
    );
}

fn since(secs: u64, now: SystemTime) -> String {
    let now = now.duration_since(UNIX_EPOCH).map_or(secs, |d| d.as_secs());
    let s = now.saturating_sub(secs);
    match s {
        s if s >= 3600 => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
        s if s >= 60 => format!("{}m{:02}s", s / 60, s % 60),
        s => format!("{s}s"),
    }
}

fn chain(c: &CableStatus) -> String {
    if c.chain.is_empty() {
        return "-".into();
    }
    let mut cell = c
        .chain
        .iter()
        .map(|d| match &d.idcode {
            Some(id) => format!("{} ({id})", esc(&d.name)),
            None => esc(&d.name),
        })
        .collect::<Vec<_>>()
        .join("<br>");
    for f in &c.simulated_fpga {
        let _ = write!(
            cell,
            "<div class=\"reason simulated-fpga\" data-done=\"{}\">simulated {}: {}, {} CFG_IN bits, \
sha256 <code>{}</code>{}</div>",
            f.done,
            esc(&f.part),
            if f.done { "DONE" } else { "not configured" },
            f.cfg_in_bits,
            esc(&f.sha256),
            f.error
                .as_deref()
                .map_or(String::new(), |e| format!(" ({})", esc(e)))
        );
    }
    cell
}

/// `reserved by alice until 17:00: note` under a cable, for the pages.
fn reservation(owner: &str, until: u64, note: Option<&str>, now: SystemTime) -> String {
    let until = crate::xvc::reservation::clock_text(
        UNIX_EPOCH + std::time::Duration::from_secs(until),
        now,
    );
    let note = note.map_or(String::new(), |n| format!(": {}", esc(n)));
    format!(
        "<div class=\"reservation\">reserved by <span class=\"owner\">{}</span> until \
<span class=\"until\">{}</span>{note}</div>",
        esc(owner),
        esc(&until)
    )
}

/// What a cable is, in one cell: the EEPROM's name for it (else the USB product), its profile
/// and the channel that profile drives.
fn device_text(c: &crate::agent::status::CableStatus) -> String {
    let name = c.device.as_deref().unwrap_or("-");
    match (&c.profile, &c.channel) {
        (Some(p), Some(ch)) => format!("{name} ({p}, channel {ch})"),
        (Some(p), None) => format!("{name} ({p})"),
        _ => name.to_string(),
    }
}

/// This host's cables. `host` is the name the browser reached us by (for the Vivado lines).
pub fn status(status: &AgentStatus, host: &str, now: SystemTime) -> String {
    let mut out = String::new();
    head(&mut out, &format!("xvc-agent on {host}"));
    let serving = status
        .cables
        .iter()
        .filter(|c| matches!(c.state, CableState::Serving | CableState::Busy))
        .count();
    let _ = writeln!(
        out,
        "<p id=\"summary\">{} cable{} attached, {serving} serving. Version {}, config: {}.</p>",
        status.cables.len(),
        if status.cables.len() == 1 { "" } else { "s" },
        esc(&status.version),
        esc(&status.config)
    );
    if status.cables.is_empty() {
        out.push_str("<p id=\"empty\">No cables attached.</p>\n</body></html>\n");
        return out;
    }
    out.push_str(
        "<table id=\"cables\"><thead><tr><th>Name</th><th>Device</th><th>Serial</th><th>USB path</th>\
<th>Port</th><th>State</th><th>Client</th><th>Chain</th><th>Vivado</th></tr></thead><tbody>\n",
    );
    for c in &status.cables {
        let serial = c.serial.as_deref().unwrap_or("-");
        let port = c.port.map_or("-".to_string(), |p| p.to_string());
        let client = match (&c.client, c.client_since) {
            (Some(peer), Some(t)) => format!(
                "<span class=\"client\">{}</span> for {}",
                esc(peer),
                since(t, now)
            ),
            (Some(peer), None) => format!("<span class=\"client\">{}</span>", esc(peer)),
            _ => "-".into(),
        };
        let client = match &c.reservation {
            Some(r) => client + &reservation(&r.owner, r.until, r.note.as_deref(), now),
            None => client,
        };
        let reason = c.reason.as_deref().map_or(String::new(), |r| {
            format!("<div class=\"reason\">{}</div>", esc(r))
        });
        let vivado = match (c.port, c.state) {
            (Some(p), CableState::Serving | CableState::Busy) => {
                format!("<code>{}</code>", esc(&vivado_line(host, p)))
            }
            _ => "-".into(),
        };
        let _ = writeln!(
            out,
            "<tr class=\"cable\" data-serial=\"{}\" data-port=\"{}\" data-state=\"{}\">\
<td>{}</td><td class=\"device\">{}</td><td>{}</td><td>{}</td><td class=\"port\">{}</td>\
<td class=\"{}\">{}{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(serial),
            esc(&port),
            c.state,
            esc(&c.name),
            esc(&device_text(c)),
            esc(serial),
            esc(&c.usb_path),
            esc(&port),
            c.state,
            c.state,
            reason,
            client,
            chain(c),
            vivado
        );
    }
    out.push_str("</tbody></table>\n</body></html>\n");
    out
}

/// The cables browsing found on the network, or why browsing failed.
pub fn lab(found: &Result<Vec<LabCable>, String>) -> String {
    let mut out = String::new();
    head(&mut out, "xvc-agent: cables in the lab");
    match found {
        Err(e) => {
            let _ = writeln!(
                out,
                "<p id=\"error\">Cannot browse the network: {}</p>",
                esc(e)
            );
        }
        Ok(list) if list.is_empty() => {
            out.push_str("<p id=\"empty\">No cables found on the network.</p>\n");
        }
        Ok(list) => {
            out.push_str(
                "<table id=\"lab\"><thead><tr><th>Host</th><th>Port</th><th>Name</th>\
<th>Serial</th><th>FPGA</th><th>State</th><th>Vivado</th></tr></thead><tbody>\n",
            );
            for c in list {
                let dash = |v: &Option<String>| esc(v.as_deref().unwrap_or("-"));
                let state = c.state.as_deref().unwrap_or("-");
                let reserved = match (&c.reserved_by, c.reserved_until) {
                    (Some(owner), Some(until)) => {
                        reservation(owner, until, c.reserved_note.as_deref(), SystemTime::now())
                    }
                    _ => String::new(),
                };
                let _ = writeln!(
                    out,
                    "<tr class=\"cable\" data-serial=\"{}\" data-port=\"{}\" data-host=\"{}\">\
<td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"{}\">{}{}</td>\
<td><code>{}</code></td></tr>",
                    dash(&c.serial),
                    c.port,
                    esc(&c.host),
                    esc(&c.host),
                    c.port,
                    esc(&c.name),
                    dash(&c.serial),
                    esc(&c.chain.join(", ")),
                    esc(state),
                    esc(state),
                    reserved,
                    esc(&c.vivado_line())
                );
            }
            out.push_str("</tbody></table>\n");
        }
    }
    out.push_str("</body></html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping() {
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }

    #[test]
    fn lab_page_states() {
        assert!(lab(&Err("avahi-daemon is not running".into())).contains("id=\"error\""));
        assert!(lab(&Ok(vec![])).contains("No cables found"));
        let c = LabCable::from_resolved(
            "a on h",
            "h.local",
            "10.0.0.2",
            2542,
            &[b"serial=<S>".to_vec()],
        );
        let html = lab(&Ok(vec![c]));
        assert!(html.contains("data-serial=\"&lt;S&gt;\""), "{html}");
        assert!(!html.contains("reserved by"), "{html}");
        let reserved = LabCable::from_resolved(
            "a on h",
            "h.local",
            "10.0.0.2",
            2542,
            &[
                b"reserved_by=alice".to_vec(),
                b"reserved_until=1800000000".to_vec(),
                b"reserved_note=<timing>".to_vec(),
            ],
        );
        let html = lab(&Ok(vec![reserved]));
        assert!(
            html.contains("reserved by <span class=\"owner\">alice</span> until"),
            "{html}"
        );
        assert!(html.contains(": &lt;timing&gt;</div>"), "{html}");
        assert!(
            html.contains("open_hw_target -xvc_url h.local:2542"),
            "{html}"
        );
    }
}
