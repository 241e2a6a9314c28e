//! The control socket's wire format: one JSON object per line each way.
//!
//! Request: `{"command": "status"}`, `{"command": "rescan"}` or
//! `{"command": "disconnect", "cable": "NAME|SERIAL|PORT"}`.
//! Reply: `{"ok": true, "status": {...}}`, `{"ok": true, "disconnected": {...}}`,
//! `{"ok": true}`, or `{"ok": false, "error": "..."}`.

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
}

pub use crate::agent::handle::Disconnected;

/// The reply to one request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub status: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub disconnected: Option<Disconnected>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<String>,
}

impl Reply {
    pub fn ok() -> Reply {
        Reply {
            ok: true,
            status: None,
            disconnected: None,
            error: None,
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
            ok: true,
            status: serde_json::to_value(status).ok(),
            disconnected: None,
            error: None,
        }
    }

    pub fn error(message: impl Into<String>) -> Reply {
        Reply {
            ok: false,
            status: None,
            disconnected: None,
            error: Some(message.into()),
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
        assert!(parse_request(r#"{"command":"format-disk"}"#).is_err());
        assert!(parse_request("status").is_err());
        let line = serde_json::to_string(&Reply::error("nope")).unwrap();
        assert_eq!(line, r#"{"ok":false,"error":"nope"}"#);
    }
}
