//! One stop signal for a cable's server, seen alike by its async accept loop, the clients
//! waiting for the cable and the blocking session thread.
//!
//! A server stops as an input, not a kill: triggering [`Shutdown`] makes the accept loop drop
//! the listener, waiting clients give up, and the session finishes its in-flight command
//! before it ends. The flag is what the blocking session polls between commands; the
//! notification is what async tasks await.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::sync::Notify;

/// A cloneable stop signal: every clone sees the same trigger.
#[derive(Clone, Default)]
pub struct Shutdown {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    triggered: AtomicBool,
    notify: Notify,
}

impl Shutdown {
    pub fn new() -> Self {
        Self::default()
    }

    /// Stops everything that watches this signal. Idempotent.
    pub(crate) fn trigger(&self) {
        self.inner.triggered.store(true, Ordering::SeqCst);
        self.inner.notify.notify_waiters();
    }

    /// True once [`Shutdown::trigger`] has been called.
    pub(crate) fn is_triggered(&self) -> bool {
        self.inner.triggered.load(Ordering::SeqCst)
    }

    /// Resolves once the signal is triggered (at once if it already was).
    pub async fn wait(&self) {
        loop {
            let notified = self.inner.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.is_triggered() {
                return;
            }
            notified.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn every_clone_sees_the_trigger_and_late_waiters_return_at_once() {
        let shutdown = Shutdown::new();
        let watcher = shutdown.clone();
        let waiting = tokio::spawn(async move { watcher.wait().await });
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(!waiting.is_finished());
        shutdown.trigger();
        tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("waiter woken")
            .unwrap();
        assert!(shutdown.clone().is_triggered());
        tokio::time::timeout(Duration::from_secs(1), shutdown.wait())
            .await
            .expect("already triggered: returns at once");
    }
}
