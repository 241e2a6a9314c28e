//! The control socket's wire format: one JSON object per line each way.
//!
//! Request: `{"command": "status"}` or `{"command": "rescan"}`.
//! Reply: `{"ok": true, "status": {...}}`, `{"ok": true}`, or `{"ok": false, "error": "..."}`.

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
}

/// The reply to one request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub status: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<String>,
}

impl Reply {
    pub fn ok() -> Reply {
        Reply {
            ok: true,
            status: None,
            error: None,
        }
    }

    pub fn status(status: &AgentStatus) -> Reply {
        Reply {
            ok: true,
            status: serde_json::to_value(status).ok(),
            error: None,
        }
    }

    pub fn error(message: impl Into<String>) -> Reply {
        Reply {
            ok: false,
            status: None,
            error: Some(message.into()),
        }
    }
}

/// Parses one request line.
pub fn parse_request(line: &str) -> Result<Request, String> {
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
        assert!(parse_request(r#"{"command":"format-disk"}"#).is_err());
        assert!(parse_request("status").is_err());
        let line = serde_json::to_string(&Reply::error("nope")).unwrap();
        assert_eq!(line, r#"{"ok":false,"error":"nope"}"#);
    }
}
