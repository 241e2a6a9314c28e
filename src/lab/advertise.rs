//! Keeps avahi-daemon's announcements in step with the agent: one entry group per served
//! cable, its TXT records updated when the cable's state changes, withdrawn when the cable
//! stops being served, everything registered again when avahi-daemon restarts (its bus name
//! changes owner) or comes back to running after a host-name collision. A taken instance name
//! is replaced by the alternative Avahi proposes (`bench-a on pi #2`).
//!
//! [`plan`] (pure) says what to change; [`run`] does it over D-Bus.

use super::avahi::entry_group::StateChanged as GroupStateChanged;
use super::avahi::server::StateChanged as ServerStateChanged;
use super::avahi::{self, AvahiError, EntryGroupProxy, ServerProxy};
use super::service::{announcements, encode_txt, reach, Announcement};
use super::SERVICE_TYPE;
use crate::agent::status::AgentStatus;
use futures_util::StreamExt;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;
use tokio::sync::watch;
use zbus::fdo::NameOwnerChangedStream;

pub(crate) use crate::config::AdvertiseMode;

/// One change to the published set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Publish a new announcement.
    Add(Announcement),
    /// Same instance, port and scope: only the TXT records change.
    UpdateTxt(Announcement),
    /// Withdraw the announcement of this cable.
    Remove(String),
}

/// What turns the `published` set into `wanted`. An announcement whose name, port or scope
/// changed is withdrawn and added again; one whose TXT records changed is updated in place.
/// The comparison is on the name asked for, so a name Avahi replaced after a collision does
/// not count as a change.
pub fn plan(wanted: &[Announcement], published: &BTreeMap<String, Announcement>) -> Vec<Step> {
    let mut steps = Vec::new();
    for key in published.keys() {
        if !wanted.iter().any(|w| &w.key == key) {
            steps.push(Step::Remove(key.clone()));
        }
    }
    for w in wanted {
        match published.get(&w.key) {
            None => steps.push(Step::Add(w.clone())),
            Some(p) if p.name != w.name || p.port != w.port || p.scope != w.scope => {
                steps.push(Step::Remove(w.key.clone()));
                steps.push(Step::Add(w.clone()));
            }
            Some(p) if p.txt != w.txt => steps.push(Step::UpdateTxt(w.clone())),
            Some(_) => {}
        }
    }
    steps
}

/// One published cable.
struct Entry {
    /// What was asked for.
    wanted: Announcement,
    /// The instance name Avahi granted.
    name: String,
    group: EntryGroupProxy<'static>,
}

/// The announcements of one avahi-daemon lifetime.
struct Publisher {
    bus: zbus::Connection,
    server: ServerProxy<'static>,
    host: String,
    entries: BTreeMap<String, Entry>,
    /// Whether the daemon is running (publishing is possible), as it last said.
    running: bool,
}

/// How many alternative names to try before giving up on a cable.
const MAX_RENAMES: usize = 32;

impl Publisher {
    fn published(&self) -> BTreeMap<String, Announcement> {
        self.entries
            .iter()
            .map(|(k, e)| (k.clone(), e.wanted.clone()))
            .collect()
    }

    /// Publishes what the agent's latest status calls for, while the daemon runs.
    async fn follow(&mut self, status: &mut watch::Receiver<AgentStatus>) {
        if self.running {
            let snapshot = status.borrow_and_update().clone();
            self.sync(&snapshot).await;
        }
    }

    /// The daemon came back to running (after a host-name change or collision: publish under
    /// the new name) or left it (its records are gone).
    async fn server_state_changed(
        &mut self,
        changed: ServerStateChanged,
        status: &mut watch::Receiver<AgentStatus>,
    ) -> Result<(), AvahiError> {
        let now_running = changed.args()?.state == avahi::SERVER_RUNNING;
        if now_running && !self.running {
            self.host = self.server.get_host_name().await?;
            self.running = true;
            self.follow(status).await;
        } else if !now_running && self.running {
            self.running = false;
            self.clear().await;
        }
        Ok(())
    }

    /// One of the groups collided with another host's name, or failed.
    async fn group_state_changed(&mut self, changed: GroupStateChanged) {
        let path = changed.message().header().path().map(|p| p.to_string());
        let Ok(args) = changed.args() else { return };
        match args.state {
            avahi::GROUP_COLLISION => self.collision(&path.unwrap_or_default()).await,
            avahi::GROUP_FAILURE => tracing::warn!("DNS-SD: announcement failed: {}", args.error),
            _ => {}
        }
    }

    async fn sync(&mut self, status: &AgentStatus) {
        let wanted = announcements(status, &self.host, |c| {
            c.listen.and_then(|ip| reach(ip, interface_of))
        });
        for step in plan(&wanted, &self.published()) {
            let result = match step {
                Step::Add(a) => self.add(a).await,
                Step::UpdateTxt(a) => self.update_txt(a).await,
                Step::Remove(key) => {
                    self.remove(&key).await;
                    Ok(())
                }
            };
            if let Err(e) = result {
                tracing::warn!("DNS-SD: {e}");
            }
        }
    }

    async fn add(&mut self, wanted: Announcement) -> Result<(), AvahiError> {
        let path = self.server.entry_group_new().await?;
        let group = avahi::entry_group(&self.bus, path).await?;
        let name = self.publish(&group, &wanted, wanted.name.clone()).await?;
        tracing::info!(
            cable_serial = %wanted.key, xvc_port = wanted.port,
            "DNS-SD: advertising {name:?} ({SERVICE_TYPE}, port {})", wanted.port
        );
        self.entries.insert(
            wanted.key.clone(),
            Entry {
                wanted,
                name,
                group,
            },
        );
        Ok(())
    }

    /// Adds the service under `name`, or the alternatives Avahi proposes while the name is
    /// taken here, and commits. Returns the name granted.
    async fn publish(
        &self,
        group: &EntryGroupProxy<'static>,
        a: &Announcement,
        mut name: String,
    ) -> Result<String, AvahiError> {
        for _ in 0..MAX_RENAMES {
            let added = group
                .add_service(
                    a.scope.interface,
                    a.scope.protocol,
                    0,
                    &name,
                    SERVICE_TYPE,
                    "",
                    "",
                    a.port,
                    encode_txt(&a.txt),
                )
                .await
                .map_err(AvahiError::from);
            match added {
                Ok(()) => {
                    group.commit().await?;
                    return Ok(name);
                }
                Err(e) if e.is_collision() => {
                    let next = self.server.get_alternative_service_name(&name).await?;
                    tracing::info!("DNS-SD: {name:?} is taken, trying {next:?}");
                    name = next;
                }
                Err(e) => return Err(e),
            }
        }
        Err(AvahiError::Failed(format!(
            "no free instance name for {:?}",
            a.name
        )))
    }

    async fn update_txt(&mut self, wanted: Announcement) -> Result<(), AvahiError> {
        let Some(entry) = self.entries.get_mut(&wanted.key) else {
            return Ok(());
        };
        entry
            .group
            .update_service_txt(
                wanted.scope.interface,
                wanted.scope.protocol,
                0,
                &entry.name,
                SERVICE_TYPE,
                "",
                encode_txt(&wanted.txt),
            )
            .await?;
        entry.wanted = wanted;
        Ok(())
    }

    async fn remove(&mut self, key: &str) {
        if let Some(entry) = self.entries.remove(key) {
            tracing::info!(cable_serial = %key, "DNS-SD: withdrawing {:?}", entry.name);
            let _ = entry.group.free().await;
        }
    }

    /// Another host published the same name: take Avahi's alternative and publish again.
    async fn collision(&mut self, group_path: &str) {
        let Some(key) = self
            .entries
            .iter()
            .find(|(_, e)| e.group.inner().path().as_str() == group_path)
            .map(|(k, _)| k.clone())
        else {
            return;
        };
        let entry = &self.entries[&key];
        let renamed = async {
            let next = self
                .server
                .get_alternative_service_name(&entry.name)
                .await?;
            tracing::info!(
                "DNS-SD: {:?} is used by another host, renaming to {next:?}",
                entry.name
            );
            entry.group.reset().await?;
            self.publish(&entry.group, &entry.wanted, next).await
        }
        .await;
        match renamed {
            Ok(name) => {
                if let Some(e) = self.entries.get_mut(&key) {
                    e.name = name;
                }
            }
            Err(e) => tracing::warn!("DNS-SD: {e}"),
        }
    }

    /// Withdraws everything (the daemon lost its host name, or the agent stops advertising).
    async fn clear(&mut self) {
        for (_, e) in std::mem::take(&mut self.entries) {
            let _ = e.group.free().await;
        }
    }
}

/// Advertises the cables of `status` until its sender is dropped.
pub async fn run(mode: AdvertiseMode, mut status: watch::Receiver<AgentStatus>) {
    if mode == AdvertiseMode::Off {
        return;
    }
    let bus = loop {
        match avahi::system_bus().await {
            Ok(bus) => break bus,
            Err(e) if mode == AdvertiseMode::Auto => {
                tracing::info!("not advertising cables over DNS-SD: {e}");
                return;
            }
            Err(e) => {
                tracing::warn!("cannot advertise cables over DNS-SD yet: {e}; retrying in 30 s");
                tokio::time::sleep(Duration::from_secs(30)).await;
            }
        }
    };
    if let Err(e) = advertise(mode, &bus, &mut status).await {
        tracing::warn!("DNS-SD advertising stopped: {e}");
    }
}

/// How one lifetime of avahi-daemon ended for the advertiser.
enum Lifetime {
    /// The daemon stopped or was replaced: wait for it and publish again.
    DaemonGone,
    /// The agent stops: nothing more to advertise.
    AgentStopped,
}

/// Follows avahi-daemon across its restarts: waits for it to be on the bus, publishes for as
/// long as it stays, and starts again when it comes back.
async fn advertise(
    mode: AdvertiseMode,
    bus: &zbus::Connection,
    status: &mut watch::Receiver<AgentStatus>,
) -> Result<(), AvahiError> {
    let dbus = zbus::fdo::DBusProxy::new(bus).await?;
    let mut owners = dbus
        .receive_name_owner_changed_with_args(&[(0, avahi::BUS_NAME)])
        .await?;
    // One stream for every entry group, subscribed before the first exists: a group can
    // collide right after its commit.
    let mut groups = avahi::signals(bus, "org.freedesktop.Avahi.EntryGroup").await?;
    loop {
        if !wait_for_daemon(mode, bus, &mut owners, status).await? {
            return Ok(());
        }
        match publish_while_running(bus, &mut owners, &mut groups, status).await? {
            Lifetime::DaemonGone => continue,
            Lifetime::AgentStopped => return Ok(()),
        }
    }
}

/// Waits until avahi-daemon owns its name (saying once why nothing is advertised meanwhile).
/// False when the agent stops first.
async fn wait_for_daemon(
    mode: AdvertiseMode,
    bus: &zbus::Connection,
    owners: &mut NameOwnerChangedStream,
    status: &mut watch::Receiver<AgentStatus>,
) -> Result<bool, AvahiError> {
    let mut said_absent = false;
    while !avahi::is_running(bus).await? {
        if !said_absent {
            said_absent = true;
            let msg = "avahi-daemon is not on the system bus: cables are not advertised \
                       over DNS-SD until it starts";
            if mode == AdvertiseMode::On {
                tracing::warn!("{msg}");
            } else {
                tracing::info!("{msg}");
            }
        }
        tokio::select! {
            _ = owners.next() => {}
            changed = status.changed() => if changed.is_err() { return Ok(false) },
        }
    }
    Ok(true)
}

/// Publishes the agent's cables for one lifetime of avahi-daemon: follows the agent's status,
/// the groups' collisions and the daemon's own state until the daemon leaves the bus or the
/// agent stops.
async fn publish_while_running(
    bus: &zbus::Connection,
    owners: &mut NameOwnerChangedStream,
    groups: &mut zbus::MessageStream,
    status: &mut watch::Receiver<AgentStatus>,
) -> Result<Lifetime, AvahiError> {
    let server = avahi::server(bus).await?;
    // Subscribed before the state is read, so that no change falls between the two.
    let mut server_states = server.receive_state_changed().await?;
    let mut publisher = Publisher {
        bus: bus.clone(),
        server: server.clone(),
        host: server.get_host_name().await?,
        entries: BTreeMap::new(),
        running: server.get_state().await? == avahi::SERVER_RUNNING,
    };
    publisher.follow(status).await;
    loop {
        tokio::select! {
            changed = status.changed() => {
                if changed.is_err() {
                    publisher.clear().await;
                    return Ok(Lifetime::AgentStopped);
                }
                publisher.follow(status).await;
            }
            owner = owners.next() => {
                // The daemon stopped or was replaced: its entry groups are gone with it.
                let replaced = owner
                    .is_some_and(|o| o.args().is_ok_and(|a| a.new_owner().is_some()));
                let what = if replaced { "restarted: advertising again" } else { "stopped" };
                tracing::info!("DNS-SD: avahi-daemon {what}");
                return Ok(Lifetime::DaemonGone);
            }
            Some(Ok(msg)) = groups.next() => {
                if let Some(changed) = GroupStateChanged::from_message(msg) {
                    publisher.group_state_changed(changed).await;
                }
            }
            Some(changed) = server_states.next() => {
                publisher.server_state_changed(changed, status).await?;
            }
        }
    }
}

/// The index of the interface that holds `ip`, from the system's address list.
fn interface_of(ip: IpAddr) -> Option<u32> {
    let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `list` with a linked list that freeifaddrs releases below; the
    // entries are only read while it is alive.
    unsafe {
        if libc::getifaddrs(&mut list) != 0 {
            return None;
        }
        let mut found = None;
        let mut cur = list;
        while !cur.is_null() {
            let entry = &*cur;
            cur = entry.ifa_next;
            if entry.ifa_addr.is_null() {
                continue;
            }
            let addr = match i32::from((*entry.ifa_addr).sa_family) {
                libc::AF_INET => {
                    let sin = &*(entry.ifa_addr as *const libc::sockaddr_in);
                    IpAddr::from(u32::from_be(sin.sin_addr.s_addr).to_be_bytes())
                }
                libc::AF_INET6 => {
                    let sin6 = &*(entry.ifa_addr as *const libc::sockaddr_in6);
                    IpAddr::from(sin6.sin6_addr.s6_addr)
                }
                _ => continue,
            };
            if addr == ip {
                let index = libc::if_nametoindex(entry.ifa_name);
                if index != 0 {
                    found = Some(index);
                    break;
                }
            }
        }
        libc::freeifaddrs(list);
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::service::{Scope, IF_UNSPEC, PROTO_UNSPEC};

    fn ann(key: &str, port: u16, state: &str) -> Announcement {
        Announcement {
            key: key.into(),
            name: format!("{key} on pi"),
            port,
            scope: Scope {
                interface: IF_UNSPEC,
                protocol: PROTO_UNSPEC,
            },
            txt: vec![("state".into(), state.into())],
        }
    }

    fn published(list: &[Announcement]) -> BTreeMap<String, Announcement> {
        list.iter().map(|a| (a.key.clone(), a.clone())).collect()
    }

    #[test]
    fn new_changed_and_gone_cables() {
        let now = published(&[ann("A", 2542, "serving"), ann("B", 2543, "serving")]);
        let wanted = [
            ann("A", 2542, "busy"),
            ann("C", 2544, "serving"),
            ann("B", 2600, "serving"),
        ];
        assert_eq!(
            plan(&wanted, &now),
            vec![
                Step::UpdateTxt(ann("A", 2542, "busy")),
                Step::Add(ann("C", 2544, "serving")),
                Step::Remove("B".into()),
                Step::Add(ann("B", 2600, "serving")),
            ]
        );
        assert_eq!(
            plan(&[], &now),
            vec![Step::Remove("A".into()), Step::Remove("B".into())]
        );
        assert!(plan(
            &[ann("A", 2542, "serving"), ann("B", 2543, "serving")],
            &now
        )
        .is_empty());
    }

    #[test]
    fn a_renamed_instance_is_not_a_change() {
        // After a collision the entry holds the wanted announcement (`A on pi`) while Avahi
        // granted `A on pi #2`: the next sync must leave it alone.
        let now = published(&[ann("A", 2542, "serving")]);
        assert!(plan(&[ann("A", 2542, "serving")], &now).is_empty());
        let mut renamed_host = ann("A", 2542, "serving");
        renamed_host.name = "A on pi-2".into();
        assert_eq!(
            plan(std::slice::from_ref(&renamed_host), &now),
            vec![Step::Remove("A".into()), Step::Add(renamed_host)]
        );
    }

    #[test]
    fn loopback_is_found_on_its_interface() {
        assert!(interface_of("127.0.0.1".parse().unwrap()).is_some());
        assert_eq!(interface_of("192.0.2.77".parse().unwrap()), None);
    }
}
