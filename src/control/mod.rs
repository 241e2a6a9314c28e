//! Control socket, status and metrics (operator-facing views of the agent).
