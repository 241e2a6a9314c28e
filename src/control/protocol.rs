//! The control socket's wire format: one JSON object per line each way.
//!
//! Request: `{"command": "status"}`, `{"command": "rescan"}`,
//! `{"command": "disconnect", "cable": "NAME|SERIAL|PORT"}`,
//! `{"command": "reserve", "cable": "...", "for": "2h", "from": ["10.0.0.5"], "note": "..."}`
//! or `{"command": "release", "cable": "...", "force": false}`.
//! Reply: `{"ok": true, "status": {...}}`, `{"ok": true, "disconnected": {...}}`,
//! `{"ok": true, "reservation": {...}}`, `{"ok": true}`, or `{"ok": false, "error": "..."}`.

use crate::agent::status::AgentStatus;
use serde::{Deserialize, Serialize};

/// A request from a client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "lowercase")]
pub enum Request {
    /// Every attached cable and its state.
    Status,
    /// Re-enumerate USB devices and retry offline cables (like SIGUSR1).
    Rescan,
    /// End the JTAG session on a cable, named by rule name, serial, USB path or port.
    Disconnect { cable: String },
    /// Reserve a cable (or extend one's reservation of it) for the requesting user.
    Reserve {
        cable: String,
        /// How long (`30m`, `4h`); absent: the configured default.
        #[serde(rename = "for", default, skip_serializing_if = "Option::is_none")]
        duration: Option<String>,
        /// Addresses or networks the port serves meanwhile; at least one.
        from: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<String>,
        /// The user name the client runs as: used only when the kernel cannot tell the
        /// agent (a uid outside the agent's user namespace).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        user: Option<String>,
    },
    /// End a reservation: one's own, or with `force` anyone's (root and the agent's user).
    Release {
        cable: String,
        #[serde(default)]
        force: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        user: Option<String>,
    },
}

pub use crate::agent::replies::{Disconnected, ReservationDone};

/// The reply to one request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub status: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub disconnected: Option<Disconnected>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reservation: Option<ReservationDone>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<String>,
}

impl Reply {
    pub fn ok() -> Reply {
        Reply {
            ok: true,
            status: None,
            disconnected: None,
            reservation: None,
            error: None,
        }
    }

    pub fn reservation(done: ReservationDone) -> Reply {
        Reply {
            reservation: Some(done),
            ..Reply::ok()
        }
    }

    pub fn disconnected(d: Disconnected) -> Reply {
        Reply {
            disconnected: Some(d),
            ..Reply::ok()
        }
    }

    pub fn status(status: &AgentStatus) -> Reply {
        Reply {
            status: serde_json::to_value(status).ok(),
            ..Reply::ok()
        }
    }

    pub fn error(message: impl Into<String>) -> Reply {
        Reply {
            ok: false,
            error: Some(message.into()),
            ..Reply::ok()
        }
    }
}

/// Parses one request line.
pub(crate) fn parse_request(line: &str) -> Result<Request, String> {
    serde_json::from_str(line.trim()).map_err(|e| format!("bad request: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip() {
        assert_eq!(
            parse_request(r#"{"command":"status"}"#),
            Ok(Request::Status)
        );
        assert_eq!(
            parse_request(" {\"command\": \"rescan\"}\n"),
            Ok(Request::Rescan)
        );
        assert_eq!(
            parse_request(r#"{"command":"disconnect","cable":"lab-a"}"#),
            Ok(Request::Disconnect {
                cable: "lab-a".into()
            })
        );
        assert!(parse_request(r#"{"command":"disconnect"}"#).is_err());
        assert_eq!(
            parse_request(r#"{"command":"reserve","cable":"a","for":"2h","from":["10.0.0.5"]}"#),
            Ok(Request::Reserve {
                cable: "a".into(),
                duration: Some("2h".into()),
                from: vec!["10.0.0.5".into()],
                note: None,
                user: None,
            })
        );
        assert_eq!(
            parse_request(r#"{"command":"release","cable":"a"}"#),
            Ok(Request::Release {
                cable: "a".into(),
                force: false,
                user: None,
            })
        );
        assert!(parse_request(r#"{"command":"format-disk"}"#).is_err());
        assert!(parse_request("status").is_err());
        let line = serde_json::to_string(&Reply::error("nope")).unwrap();
        assert_eq!(line, r#"{"ok":false,"error":"nope"}"#);
    }
}
