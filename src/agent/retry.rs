//! When to try again: the reopen schedule after a cable error and the delay before binding a
//! port another program holds. Pure data the lifecycle reads.

use std::time::Duration;

/// Reopen attempts after a cable error before it is declared offline.
pub(crate) const MAX_REOPEN_ATTEMPTS: u32 = 8;

/// Delay before reopen attempt `attempt` (0-based): immediately, 5 s, 30 s, then 60 s.
/// `None` once the attempts are used up.
pub(crate) fn reopen_delay(attempt: u32) -> Option<Duration> {
    let secs = match attempt {
        0 => 0,
        1 => 5,
        2 => 30,
        n if n < MAX_REOPEN_ATTEMPTS => 60,
        _ => return None,
    };
    Some(Duration::from_secs(secs))
}

/// Delay between attempts to bind a port another program holds.
pub const BIND_RETRY: Duration = Duration::from_secs(5);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_schedule() {
        let delays: Vec<_> = (0..10).map(reopen_delay).collect();
        assert_eq!(delays[0], Some(Duration::ZERO));
        assert_eq!(delays[1], Some(Duration::from_secs(5)));
        assert_eq!(delays[2], Some(Duration::from_secs(30)));
        assert_eq!(delays[3], Some(Duration::from_secs(60)));
        assert_eq!(delays[7], Some(Duration::from_secs(60)));
        assert_eq!(delays[8], None);
    }
}
