//! Finding the lab's cables: browse `_xvc._tcp` through avahi-daemon, resolve each instance to
//! a host, address and port with its TXT records. Used by `xvc-agent browse` and `/lab`.

use super::avahi::{self, AvahiError};
use super::service::{tidy, LabCable, IF_UNSPEC, PROTO_UNSPEC};
use super::SERVICE_TYPE;
use futures_util::StreamExt;
use std::time::Duration;
use tokio::time::Instant;

/// One `ItemNew` of the browser: where an instance was seen.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Item {
    interface: i32,
    protocol: i32,
    name: String,
    domain: String,
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
    let mut signals = avahi::signals(&bus, "org.freedesktop.Avahi.ServiceBrowser").await?;
    let path = server
        .service_browser_new(IF_UNSPEC, PROTO_UNSPEC, SERVICE_TYPE, "", 0)
        .await?;
    let mut items: Vec<Item> = Vec::new();
    loop {
        let msg = tokio::select! {
            msg = signals.next() => msg,
            _ = tokio::time::sleep_until(deadline) => break,
        };
        let Some(Ok(msg)) = msg else { break };
        let header = msg.header();
        if header.path().map(|p| p.as_str()) != Some(path.as_str()) {
            continue;
        }
        let member = header.member().map(|m| m.to_string()).unwrap_or_default();
        match member.as_str() {
            "ItemNew" | "ItemRemove" => {
                let Ok((interface, protocol, name, _type, domain, _flags)) = msg
                    .body()
                    .deserialize::<(i32, i32, String, String, String, u32)>()
                else {
                    continue;
                };
                let item = Item {
                    interface,
                    protocol,
                    name,
                    domain,
                };
                items.retain(|i| i != &item);
                if member == "ItemNew" {
                    items.push(item);
                }
            }
            "AllForNow" => break,
            "Failure" => {
                let why: String = msg.body().deserialize().unwrap_or_default();
                return Err(AvahiError::Failed(format!("browsing failed: {why}")));
            }
            _ => {}
        }
    }
    if let Ok(browser) = avahi::service_browser(&bus, path).await {
        let _ = browser.free().await;
    }
    // Resolve every sighting at once; each gets what is left of the time, at least a second.
    let budget = deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_secs(1));
    let mut resolving = tokio::task::JoinSet::new();
    for item in items {
        let server = server.clone();
        resolving.spawn(async move {
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
        });
    }
    let mut found = Vec::new();
    while let Some(done) = resolving.join_next().await {
        if let Ok(Some(cable)) = done {
            found.push(cable);
        }
    }
    Ok(tidy(found))
}
