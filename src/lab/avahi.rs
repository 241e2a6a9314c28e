//! avahi-daemon's D-Bus interface (`org.freedesktop.Avahi` on the system bus): the few calls
//! the agent and `xvc-agent browse` make, and the errors they can end in.

use zbus::zvariant::OwnedObjectPath;

/// The bus name avahi-daemon owns.
pub(crate) const BUS_NAME: &str = "org.freedesktop.Avahi";

/// Avahi server states (`GetState`, `StateChanged`).
pub(crate) const SERVER_RUNNING: i32 = 2;

pub(crate) const GROUP_COLLISION: i32 = 3;
pub(crate) const GROUP_FAILURE: i32 = 4;

/// The D-Bus error Avahi answers `AddService` with when the name is taken locally.
pub(crate) const COLLISION_ERROR: &str = "org.freedesktop.Avahi.CollisionError";

/// Why talking to Avahi failed.
#[derive(Debug, thiserror::Error)]
pub enum AvahiError {
    #[error("cannot connect to the D-Bus system bus: {0}")]
    NoBus(#[source] zbus::Error),
    #[error("avahi-daemon is not running (nothing owns {BUS_NAME} on the system bus)")]
    NotRunning,
    #[error("avahi-daemon: {0}")]
    Call(#[from] zbus::Error),
    #[error("avahi-daemon: {0}")]
    Failed(String),
}

impl AvahiError {
    /// True for `AddService`'s "name already taken here".
    pub(crate) fn is_collision(&self) -> bool {
        matches!(self, AvahiError::Call(zbus::Error::MethodError(name, _, _))
            if name.as_str() == COLLISION_ERROR)
    }
}

pub(crate) use entry_group::EntryGroupProxy;
pub(crate) use server::ServerProxy;
pub(crate) use service_browser::ServiceBrowserProxy;

/// `org.freedesktop.Avahi.Server` at `/`.
pub(crate) mod server {
    use zbus::zvariant::OwnedObjectPath;

    #[zbus::proxy(
        interface = "org.freedesktop.Avahi.Server",
        default_service = "org.freedesktop.Avahi",
        default_path = "/"
    )]
    pub(crate) trait Server {
        fn get_host_name(&self) -> zbus::Result<String>;
        fn get_state(&self) -> zbus::Result<i32>;
        fn entry_group_new(&self) -> zbus::Result<OwnedObjectPath>;
        fn get_alternative_service_name(&self, name: &str) -> zbus::Result<String>;
        fn service_browser_new(
            &self,
            interface: i32,
            protocol: i32,
            service_type: &str,
            domain: &str,
            flags: u32,
        ) -> zbus::Result<OwnedObjectPath>;
        #[allow(clippy::too_many_arguments, clippy::type_complexity)]
        fn resolve_service(
            &self,
            interface: i32,
            protocol: i32,
            name: &str,
            service_type: &str,
            domain: &str,
            aprotocol: i32,
            flags: u32,
        ) -> zbus::Result<(
            i32,
            i32,
            String,
            String,
            String,
            String,
            i32,
            String,
            u16,
            Vec<Vec<u8>>,
            u32,
        )>;
        /// The daemon's state changed (running, registering after a host-name change, ...).
        #[zbus(signal)]
        fn state_changed(&self, state: i32, error: String) -> zbus::Result<()>;
    }
}

/// `org.freedesktop.Avahi.EntryGroup`: a set of records published (and withdrawn) together.
pub(crate) mod entry_group {
    #[zbus::proxy(
        interface = "org.freedesktop.Avahi.EntryGroup",
        default_service = "org.freedesktop.Avahi"
    )]
    pub(crate) trait EntryGroup {
        #[allow(clippy::too_many_arguments)]
        fn add_service(
            &self,
            interface: i32,
            protocol: i32,
            flags: u32,
            name: &str,
            service_type: &str,
            domain: &str,
            host: &str,
            port: u16,
            txt: Vec<Vec<u8>>,
        ) -> zbus::Result<()>;
        #[allow(clippy::too_many_arguments)]
        fn update_service_txt(
            &self,
            interface: i32,
            protocol: i32,
            flags: u32,
            name: &str,
            service_type: &str,
            domain: &str,
            txt: Vec<Vec<u8>>,
        ) -> zbus::Result<()>;
        fn commit(&self) -> zbus::Result<()>;
        fn reset(&self) -> zbus::Result<()>;
        fn free(&self) -> zbus::Result<()>;
        /// The group was established, collided with another host's name, or failed.
        #[zbus(signal)]
        fn state_changed(&self, state: i32, error: String) -> zbus::Result<()>;
    }
}

/// `org.freedesktop.Avahi.ServiceBrowser`: the instances of one service type, as Avahi sees
/// them come and go. Its signals are read through a match rule set up before the browser
/// exists ([`signals`]): it reports what Avahi has cached at once, before a proxy of it could
/// subscribe; they are decoded with the types generated here (`ItemNew::from_message`, ...).
pub(crate) mod service_browser {
    #[zbus::proxy(
        interface = "org.freedesktop.Avahi.ServiceBrowser",
        default_service = "org.freedesktop.Avahi"
    )]
    pub(crate) trait ServiceBrowser {
        fn free(&self) -> zbus::Result<()>;
        /// An instance was seen on an interface and protocol.
        #[zbus(signal)]
        #[allow(clippy::too_many_arguments)]
        fn item_new(
            &self,
            interface: i32,
            protocol: i32,
            name: String,
            service_type: String,
            domain: String,
            flags: u32,
        ) -> zbus::Result<()>;
        /// An instance went away from an interface and protocol.
        #[zbus(signal)]
        #[allow(clippy::too_many_arguments)]
        fn item_remove(
            &self,
            interface: i32,
            protocol: i32,
            name: String,
            service_type: String,
            domain: String,
            flags: u32,
        ) -> zbus::Result<()>;
        /// Everything Avahi knows now has been reported.
        #[zbus(signal)]
        fn all_for_now(&self) -> zbus::Result<()>;
        /// Browsing failed.
        #[zbus(signal)]
        fn failure(&self, error: String) -> zbus::Result<()>;
    }
}

/// The system bus (or `$DBUS_SYSTEM_BUS_ADDRESS`).
pub(crate) async fn system_bus() -> Result<zbus::Connection, AvahiError> {
    zbus::Connection::system().await.map_err(AvahiError::NoBus)
}

/// True when avahi-daemon owns its name on `bus`.
pub(crate) async fn is_running(bus: &zbus::Connection) -> Result<bool, AvahiError> {
    let dbus = zbus::fdo::DBusProxy::new(bus).await?;
    let name = zbus::names::BusName::try_from(BUS_NAME).map_err(zbus::Error::from)?;
    Ok(dbus.name_has_owner(name).await.map_err(zbus::Error::from)?)
}

/// The server proxy, without property caching (Avahi has no properties).
pub(crate) async fn server(bus: &zbus::Connection) -> Result<ServerProxy<'static>, AvahiError> {
    Ok(ServerProxy::builder(bus)
        .cache_properties(zbus::proxy::CacheProperties::No)
        .build()
        .await?)
}

/// A proxy for the entry group at `path`.
pub(crate) async fn entry_group(
    bus: &zbus::Connection,
    path: OwnedObjectPath,
) -> Result<EntryGroupProxy<'static>, AvahiError> {
    Ok(EntryGroupProxy::builder(bus)
        .path(path)?
        .cache_properties(zbus::proxy::CacheProperties::No)
        .build()
        .await?)
}

/// A proxy for the service browser at `path`.
pub(crate) async fn service_browser(
    bus: &zbus::Connection,
    path: OwnedObjectPath,
) -> Result<ServiceBrowserProxy<'static>, AvahiError> {
    Ok(ServiceBrowserProxy::builder(bus)
        .path(path)?
        .cache_properties(zbus::proxy::CacheProperties::No)
        .build()
        .await?)
}

/// A stream of every signal on `interface` (any object path; only avahi-daemon implements
/// its interfaces. The rule names no sender: signals carry the daemon's unique name).
pub async fn signals(
    bus: &zbus::Connection,
    interface: &'static str,
) -> Result<zbus::MessageStream, AvahiError> {
    let rule = zbus::MatchRule::builder()
        .msg_type(zbus::message::Type::Signal)
        .interface(interface)?
        .build();
    Ok(zbus::MessageStream::for_match_rule(rule, bus, Some(256)).await?)
}
