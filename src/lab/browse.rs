//! Finding the lab's cables: browse `_xvc._tcp` through avahi-daemon, resolve each instance to
//! a host, address and port with its TXT records. Used by `xvc-agent browse` and `/lab`.
//!
//! Three steps, one function each: [`browse`] opens the browser, [`sightings`] collects what
//! it reports (the bookkeeping in the pure [`Sightings`]), [`resolve_all`] resolves them.

use super::avahi::service_browser::{AllForNow, Failure, ItemNew, ItemRemove};
use super::avahi::{self, AvahiError, ServerProxy};
use super::service::{tidy, LabCable, IF_UNSPEC, PROTO_UNSPEC};
use super::SERVICE_TYPE;
use futures_util::StreamExt;
use std::time::Duration;
use tokio::time::Instant;
use zbus::zvariant::ObjectPath;

/// Where an instance was seen (`ItemNew`): on which interface and protocol, by which name.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Item {
    interface: i32,
    protocol: i32,
    name: String,
    domain: String,
}

/// One report of the service browser.
#[derive(Debug, Clone, PartialEq, Eq)]
enum BrowserEvent {
    New(Item),
    Remove(Item),
    AllForNow,
    Failure(String),
}

impl BrowserEvent {
    /// The report `msg` carries, when it is a signal of the browser at `browser`.
    fn from_signal(msg: zbus::Message, browser: &ObjectPath<'_>) -> Option<Self> {
        if msg.header().path() != Some(browser) {
            return None;
        }
        if let Some(seen) = ItemNew::from_message(msg.clone()) {
            let a = seen.args().ok()?;
            return Some(Self::New(Item::new(
                a.interface,
                a.protocol,
                a.name,
                a.domain,
            )));
        }
        if let Some(gone) = ItemRemove::from_message(msg.clone()) {
            let a = gone.args().ok()?;
            return Some(Self::Remove(Item::new(
                a.interface,
                a.protocol,
                a.name,
                a.domain,
            )));
        }
        if AllForNow::from_message(msg.clone()).is_some() {
            return Some(Self::AllForNow);
        }
        let failed = Failure::from_message(msg)?;
        Some(Self::Failure(failed.args().ok()?.error))
    }
}

impl Item {
    fn new(interface: i32, protocol: i32, name: String, domain: String) -> Self {
        Self {
            interface,
            protocol,
            name,
            domain,
        }
    }
}

/// The instances seen so far, in the order they were first seen.
#[derive(Debug, Default)]
struct Sightings {
    items: Vec<Item>,
}

/// What the browser's report means for the collection.
#[derive(Debug, PartialEq, Eq)]
enum Collecting {
    Going,
    Done,
}

impl Sightings {
    /// Takes in one report: a new or withdrawn sighting, the end of what Avahi knows, or its
    /// failure.
    fn apply(&mut self, event: BrowserEvent) -> Result<Collecting, AvahiError> {
        match event {
            BrowserEvent::New(item) => {
                self.items.retain(|i| i != &item);
                self.items.push(item);
            }
            BrowserEvent::Remove(item) => self.items.retain(|i| i != &item),
            BrowserEvent::AllForNow => return Ok(Collecting::Done),
            BrowserEvent::Failure(why) => {
                return Err(AvahiError::Failed(format!("browsing failed: {why}")))
            }
        }
        Ok(Collecting::Going)
    }
}

/// Browses until Avahi says it has reported everything it knows (`AllForNow`) or `timeout`
/// passes, then resolves what was found. Instances that do not resolve in time are left out.
pub(crate) async fn browse(timeout: Duration) -> Result<Vec<LabCable>, AvahiError> {
    let deadline = Instant::now() + timeout;
    let bus = avahi::system_bus().await?;
    if !avahi::is_running(&bus).await? {
        return Err(AvahiError::NotRunning);
    }
    let server = avahi::server(&bus).await?;
    // Subscribe before the browser exists: it reports cached instances at once.
    let signals = avahi::signals(&bus, "org.freedesktop.Avahi.ServiceBrowser").await?;
    let path = server
        .service_browser_new(IF_UNSPEC, PROTO_UNSPEC, SERVICE_TYPE, "", 0)
        .await?;
    let seen = sightings(signals, &path, deadline).await;
    if let Ok(browser) = avahi::service_browser(&bus, path).await {
        let _ = browser.free().await;
    }
    // Resolve every sighting at once; each gets what is left of the time, at least a second.
    let budget = deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_secs(1));
    Ok(tidy(resolve_all(&server, seen?, budget).await))
}

/// Collects the reports of the browser at `browser` until it has said everything it knows or
/// the `deadline` passes.
async fn sightings(
    mut signals: zbus::MessageStream,
    browser: &ObjectPath<'_>,
    deadline: Instant,
) -> Result<Vec<Item>, AvahiError> {
    let mut seen = Sightings::default();
    loop {
        let msg = tokio::select! {
            msg = signals.next() => msg,
            _ = tokio::time::sleep_until(deadline) => break,
        };
        let Some(Ok(msg)) = msg else { break };
        let Some(event) = BrowserEvent::from_signal(msg, browser) else {
            continue;
        };
        if seen.apply(event)? == Collecting::Done {
            break;
        }
    }
    Ok(seen.items)
}

/// Resolves every sighting at once, each within `budget`; those that fail are left out.
async fn resolve_all(
    server: &ServerProxy<'static>,
    items: Vec<Item>,
    budget: Duration,
) -> Vec<LabCable> {
    let mut resolving = tokio::task::JoinSet::new();
    for item in items {
        resolving.spawn(resolve(server.clone(), item, budget));
    }
    let mut found = Vec::new();
    while let Some(done) = resolving.join_next().await {
        if let Ok(Some(cable)) = done {
            found.push(cable);
        }
    }
    found
}

/// One sighting resolved to its host, address, port and TXT records.
async fn resolve(server: ServerProxy<'static>, item: Item, budget: Duration) -> Option<LabCable> {
    let call = server.resolve_service(
        item.interface,
        item.protocol,
        &item.name,
        SERVICE_TYPE,
        &item.domain,
        item.protocol,
        0,
    );
    match tokio::time::timeout(budget, call).await {
        Ok(Ok((_, _, name, _, _, host, _, address, port, txt, _))) => {
            Some(LabCable::from_resolved(&name, &host, &address, port, &txt))
        }
        Ok(Err(e)) => {
            tracing::debug!("cannot resolve {:?}: {e}", item.name);
            None
        }
        Err(_) => {
            tracing::debug!("resolving {:?} timed out", item.name);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(interface: i32, name: &str) -> Item {
        Item::new(interface, 0, name.into(), "local".into())
    }

    fn browser_signal(
        path: &str,
        member: &str,
        body: &(impl serde::Serialize + zbus::zvariant::DynamicType),
    ) -> zbus::Message {
        zbus::Message::signal(path, "org.freedesktop.Avahi.ServiceBrowser", member)
            .unwrap()
            .build(body)
            .unwrap()
    }

    #[test]
    fn a_withdrawn_sighting_is_dropped_and_a_repeated_one_kept_once() {
        let mut seen = Sightings::default();
        for event in [
            BrowserEvent::New(item(2, "a")),
            BrowserEvent::New(item(3, "a")),
            BrowserEvent::New(item(2, "b")),
            BrowserEvent::New(item(2, "a")),
            BrowserEvent::Remove(item(3, "a")),
        ] {
            assert_eq!(seen.apply(event).unwrap(), Collecting::Going);
        }
        assert_eq!(seen.items, vec![item(2, "b"), item(2, "a")]);
        assert_eq!(
            seen.apply(BrowserEvent::AllForNow).unwrap(),
            Collecting::Done
        );
        let failed = seen.apply(BrowserEvent::Failure("no memory".into()));
        assert!(failed
            .unwrap_err()
            .to_string()
            .contains("browsing failed: no memory"));
    }

    #[test]
    fn signals_are_read_by_name_and_only_from_our_browser() {
        let ours = ObjectPath::try_from("/Client1/ServiceBrowser1").unwrap();
        let body = (2i32, 0i32, "bench-a on pi", SERVICE_TYPE, "local", 4u32);
        let new = browser_signal(ours.as_str(), "ItemNew", &body);
        assert_eq!(
            BrowserEvent::from_signal(new, &ours),
            Some(BrowserEvent::New(Item::new(
                2,
                0,
                "bench-a on pi".into(),
                "local".into()
            )))
        );
        let gone = browser_signal(ours.as_str(), "ItemRemove", &body);
        assert!(matches!(
            BrowserEvent::from_signal(gone, &ours),
            Some(BrowserEvent::Remove(_))
        ));
        let done = browser_signal(ours.as_str(), "AllForNow", &());
        assert_eq!(
            BrowserEvent::from_signal(done, &ours),
            Some(BrowserEvent::AllForNow)
        );
        let failed = browser_signal(ours.as_str(), "Failure", &("oops",));
        assert_eq!(
            BrowserEvent::from_signal(failed, &ours),
            Some(BrowserEvent::Failure("oops".into()))
        );
        let other = browser_signal("/Client1/ServiceBrowser2", "ItemNew", &body);
        assert_eq!(BrowserEvent::from_signal(other, &ours), None);
        let cache = browser_signal(ours.as_str(), "CacheExhausted", &());
        assert_eq!(BrowserEvent::from_signal(cache, &ours), None);
    }
}
