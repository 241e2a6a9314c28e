//! Real cable discovery: libudev enumeration plus a udev monitor, as one stream of
//! [`CableEvent`]s.
//!
//! The monitor is created before the enumeration runs, so a cable plugged in while we
//! enumerate is seen by one or the other (or both: duplicates are removed by syspath). The
//! monitor listens to the `udev` netlink source, not the kernel one, so by the time an `add`
//! arrives udev has applied its rules and the device node carries its final permissions.
//!
//! The monitor socket is driven by tokio's `AsyncFd`: no thread per monitor, no polling. A
//! `remove` is handled from the event alone, because the sysfs directory is already gone by
//! then on real hardware; we only report removals of devices we reported as attached.
//!
//! Which devices are reported is decided by a [`DeviceFilter`] of VID:PID pairs that the
//! caller hands in (the agent: every chip of its cable profile table), so a device of another
//! vendor costs one property lookup and is otherwise ignored. Discovery itself knows no cable
//! profile.
//!
//! Under umockdev (`UMOCKDEV_DIR` set, preload library active) libudev reads the mocked sysfs
//! and receives the mocked uevents without any special handling here.

use super::{CableEvent, CableInfo};
use std::collections::HashMap;
use std::os::fd::{AsRawFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::io::unix::AsyncFd;
use tokio::sync::mpsc;

/// The USB devices reported as cables: those with one of these VID:PID pairs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DeviceFilter {
    ids: Arc<[(u16, u16)]>,
}

impl DeviceFilter {
    pub fn new(ids: impl IntoIterator<Item = (u16, u16)>) -> Self {
        DeviceFilter {
            ids: ids.into_iter().collect(),
        }
    }

    pub fn matches(&self, info: &CableInfo) -> bool {
        self.ids.contains(&(info.vid, info.pid))
    }
}

/// Why udev discovery could not start.
#[derive(Debug, thiserror::Error)]
pub(crate) enum UdevError {
    #[error("cannot create the udev monitor: {0}")]
    Monitor(#[source] std::io::Error),
    #[error("cannot enumerate USB devices: {0}")]
    Enumerate(#[source] std::io::Error),
    #[error("cannot register the udev monitor with the event loop: {0}")]
    Register(#[source] std::io::Error),
}

/// What the source remembers about a reported device: enough to recognise a re-add of the
/// same syspath with a different device (a missed `remove`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    devnum: u8,
    devnode: Option<PathBuf>,
}

/// Turns raw add/remove observations into deduplicated [`CableEvent`]s.
///
/// Pure bookkeeping, shared by the enumeration and the monitor so that a device reported by
/// both appears once, and a removal is reported only for a device that was reported.
pub(crate) struct Deduper {
    filter: DeviceFilter,
    seen: HashMap<PathBuf, Seen>,
}

impl Deduper {
    pub fn new(filter: DeviceFilter) -> Self {
        Deduper {
            filter,
            seen: HashMap::new(),
        }
    }

    /// A device is present. Returns the events to emit (none, one attach, or a detach of a
    /// stale entry followed by an attach).
    pub(crate) fn present(&mut self, info: CableInfo) -> Vec<CableEvent> {
        if !self.filter.matches(&info) {
            return Vec::new();
        }
        let now = Seen {
            devnum: info.devnum,
            devnode: info.devnode.clone(),
        };
        let mut out = Vec::new();
        match self.seen.get(&info.syspath) {
            Some(prev) if *prev == now => return out,
            Some(_) => out.push(CableEvent::Detached {
                syspath: info.syspath.clone(),
            }),
            None => {}
        }
        self.seen.insert(info.syspath.clone(), now);
        out.push(CableEvent::Attached(info));
        out
    }

    /// A device is gone. Emits a detach only if it was reported.
    pub fn removed(&mut self, syspath: &Path) -> Option<CableEvent> {
        self.seen.remove(syspath).map(|_| CableEvent::Detached {
            syspath: syspath.to_path_buf(),
        })
    }
}

/// Builds a [`CableInfo`] from a device's udev properties and sysfs attributes.
///
/// `prop` and `attr` look up a property or attribute by name; values are trimmed and empty
/// ones count as missing. Returns `None` when the vendor or product id cannot be read (not a
/// USB device we can say anything about).
pub(crate) fn cable_info_from(
    syspath: &Path,
    sysname: &str,
    devnode: Option<&Path>,
    prop: impl Fn(&str) -> Option<String>,
    attr: impl Fn(&str) -> Option<String>,
) -> Option<CableInfo> {
    let clean = |v: Option<String>| v.map(|v| v.trim().to_string()).filter(|t| !t.is_empty());
    let p = |name: &str| clean(prop(name));
    let a = |name: &str| clean(attr(name));
    let hex16 = |s: String| u16::from_str_radix(&s, 16).ok();
    let dec8 = |s: String| s.parse::<u8>().ok();
    let vid = p("ID_VENDOR_ID")
        .or_else(|| a("idVendor"))
        .and_then(hex16)?;
    let pid = p("ID_MODEL_ID")
        .or_else(|| a("idProduct"))
        .and_then(hex16)?;
    Some(CableInfo {
        syspath: syspath.to_path_buf(),
        serial: p("ID_SERIAL_SHORT").or_else(|| a("serial")),
        usb_path: sysname.to_string(),
        busnum: p("BUSNUM")
            .or_else(|| a("busnum"))
            .and_then(dec8)
            .unwrap_or(0),
        devnum: p("DEVNUM")
            .or_else(|| a("devnum"))
            .and_then(dec8)
            .unwrap_or(0),
        vid,
        pid,
        // The sysfs attributes hold the exact USB strings; the udev properties (ID_VENDOR,
        // ID_MODEL) are mangled (spaces become underscores).
        manufacturer: a("manufacturer"),
        product: a("product"),
        bcd_device: a("bcdDevice").and_then(hex16).unwrap_or(0),
        interfaces: a("bNumInterfaces").and_then(dec8).unwrap_or(0),
        devnode: devnode
            .map(Path::to_path_buf)
            .or_else(|| p("DEVNAME").map(PathBuf::from)),
        naming: Default::default(),
    })
}

fn os(v: Option<&std::ffi::OsStr>) -> Option<String> {
    v.map(|s| s.to_string_lossy().into_owned())
}

fn info_from_device(dev: &udev::Device) -> Option<CableInfo> {
    if dev.devtype().is_some_and(|t| t != "usb_device") {
        return None;
    }
    cable_info_from(
        dev.syspath(),
        &dev.sysname().to_string_lossy(),
        dev.devnode(),
        |p| os(dev.property_value(p)),
        |a| os(dev.attribute_value(a)),
    )
}

/// The udev cable source: a monitor socket plus the deduplication state.
pub(crate) struct UdevSource {
    monitor: udev::MonitorSocket,
    dedup: Deduper,
}

impl UdevSource {
    /// Creates the monitor (subsystem `usb`, devtype `usb_device`, udev source). Call this
    /// before [`UdevSource::enumerate`] so nothing plugged in meanwhile is missed.
    pub fn new(filter: DeviceFilter) -> Result<Self, UdevError> {
        let monitor = udev::MonitorBuilder::new()
            .and_then(|b| b.match_subsystem_devtype("usb", "usb_device"))
            .and_then(|b| b.listen())
            .map_err(UdevError::Monitor)?;
        Ok(UdevSource {
            monitor,
            dedup: Deduper::new(filter),
        })
    }

    /// The devices present now, as `Attached` events (coldplug).
    pub fn enumerate(&mut self) -> Result<Vec<CableEvent>, UdevError> {
        enumerate_into(&mut self.dedup)
    }

    /// Follows the monitor until `sink` returns false (the receiver is gone). Must run inside
    /// a tokio runtime.
    pub async fn run<F>(self, mut sink: F) -> Result<(), UdevError>
    where
        F: FnMut(CableEvent) -> bool,
    {
        let UdevSource { monitor, mut dedup } = self;
        // SAFETY: the AsyncFd owns the monitor socket, so the descriptor stays open and
        // unchanged for as long as it is registered.
        let afd = unsafe {
            AsyncFd::register_with_interest(Monitor(monitor), tokio::io::Interest::READABLE)
        }
        .map_err(|e| UdevError::Register(e.into()))?;
        loop {
            let mut guard = afd.readable().await.map_err(UdevError::Register)?;
            // libudev's receive is non-blocking and returns nothing once the socket is empty.
            let received: Vec<udev::Event> = afd.get_ref().0.iter().collect();
            for ev in &received {
                for out in handle_event(&mut dedup, ev) {
                    if !sink(out) {
                        return Ok(());
                    }
                }
            }
            // Clear readiness only when the socket is really empty, so no wakeup is lost if
            // libudev gave up early (for example after a malformed message).
            if !fd_readable_now(afd.as_raw_fd()) {
                guard.clear_ready();
            }
        }
    }

    /// Spawns [`UdevSource::run`] on the current runtime, forwarding events into `tx`.
    pub fn spawn<T: Send + 'static>(
        self,
        tx: mpsc::UnboundedSender<T>,
        wrap: fn(CableEvent) -> T,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            if let Err(e) = self.run(|ev| tx.send(wrap(ev)).is_ok()).await {
                tracing::error!("udev monitor stopped: {e}");
            }
        })
    }
}

fn handle_event(dedup: &mut Deduper, event: &udev::Event) -> Vec<CableEvent> {
    tracing::trace!(
        "udev {:?} {}",
        event.event_type(),
        event.device().syspath().display()
    );
    match event.event_type() {
        udev::EventType::Remove => dedup
            .removed(event.device().syspath())
            .into_iter()
            .collect(),
        udev::EventType::Add | udev::EventType::Bind | udev::EventType::Change => {
            match info_from_device(&event.device()) {
                Some(info) => dedup.present(info),
                None => Vec::new(),
            }
        }
        _ => Vec::new(),
    }
}

/// The cables present now, by a fresh enumeration (for rescans; no deduplication state).
pub(crate) fn present(filter: &DeviceFilter) -> Result<Vec<CableInfo>, UdevError> {
    let mut dedup = Deduper::new(filter.clone());
    Ok(enumerate_into(&mut dedup)?
        .into_iter()
        .filter_map(|ev| match ev {
            CableEvent::Attached(info) => Some(info),
            CableEvent::Detached { .. } => None,
        })
        .collect())
}

fn enumerate_into(dedup: &mut Deduper) -> Result<Vec<CableEvent>, UdevError> {
    let mut en = udev::Enumerator::new().map_err(UdevError::Enumerate)?;
    en.match_subsystem("usb").map_err(UdevError::Enumerate)?;
    // Every device is listed, initialized by udev or not: umockdev (0.17) cannot mark
    // devices initialized, and on a host the window between the kernel's and udev's
    // announcement is milliseconds; a cable opened too early fails with a permission
    // error and is retried by the supervisor like any other failed open.
    en.match_property("DEVTYPE", "usb_device")
        .map_err(UdevError::Enumerate)?;
    let mut events = Vec::new();
    for dev in en.scan_devices().map_err(UdevError::Enumerate)? {
        if let Some(info) = info_from_device(&dev) {
            events.extend(dedup.present(info));
        }
    }
    Ok(events)
}

/// The monitor socket inside the task that follows it.
struct Monitor(udev::MonitorSocket);

// SAFETY: the monitor is owned by one task and only ever used from that task; `Sync` is
// needed only because the task holds `&AsyncFd<Monitor>` across an await point, not because
// it is shared.
unsafe impl Sync for Monitor {}

impl AsRawFd for Monitor {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

fn fd_readable_now(fd: RawFd) -> bool {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd, zero timeout.
    let n = unsafe { libc::poll(&mut pfd, 1, 0) };
    n > 0 && pfd.revents & libc::POLLIN != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hs2(syspath: &str, sysname: &str, devnum: u8) -> CableInfo {
        let props: HashMap<&str, String> = [
            ("ID_VENDOR_ID", "0403".to_string()),
            ("ID_MODEL_ID", "6014".into()),
            ("ID_SERIAL_SHORT", " 210249A85F1B ".into()),
            ("BUSNUM", "001".into()),
            ("DEVNUM", format!("{devnum:03}")),
        ]
        .into_iter()
        .collect();
        let attrs: HashMap<&str, String> = [
            ("manufacturer", "Digilent\n".to_string()),
            ("product", "Digilent Adept USB Device\n".into()),
            ("bcdDevice", "0900\n".into()),
            // The kernel pads it to two columns.
            ("bNumInterfaces", " 1\n".into()),
        ]
        .into_iter()
        .collect();
        cable_info_from(
            Path::new(syspath),
            sysname,
            Some(Path::new(&format!("/dev/bus/usb/001/{devnum:03}"))),
            |p| props.get(p).cloned(),
            |a| attrs.get(a).cloned(),
        )
        .unwrap()
    }

    /// The VID:PID of the FT232H, the chip of the cables these tests describe.
    fn ft232h() -> DeviceFilter {
        DeviceFilter::new([(0x0403, 0x6014)])
    }

    #[test]
    fn info_is_read_and_trimmed() {
        let c = hs2("/sys/devices/x/1-2.4", "1-2.4", 7);
        assert_eq!(c.serial.as_deref(), Some("210249A85F1B"));
        assert_eq!(c.usb_path, "1-2.4");
        assert_eq!((c.busnum, c.devnum), (1, 7));
        assert_eq!((c.vid, c.pid), (0x0403, 0x6014));
        assert_eq!(c.manufacturer.as_deref(), Some("Digilent"));
        assert_eq!(c.product.as_deref(), Some("Digilent Adept USB Device"));
        assert_eq!(c.devnode, Some(PathBuf::from("/dev/bus/usb/001/007")));
        assert_eq!((c.bcd_device, c.interfaces), (0x0900, 1));
        assert!(ft232h().matches(&c));
    }

    #[test]
    fn attributes_are_the_fallback() {
        let attrs: HashMap<&str, &str> = [
            ("idVendor", "0403\n"),
            ("idProduct", "6014\n"),
            ("serial", "ABC\n"),
            ("busnum", "3\n"),
            ("devnum", "12\n"),
            ("manufacturer", "FTDI\n"),
        ]
        .into_iter()
        .collect();
        let c = cable_info_from(
            Path::new("/sys/x/3-1"),
            "3-1",
            None,
            |_| None,
            |a| attrs.get(a).map(|s| s.to_string()),
        )
        .unwrap();
        assert_eq!(c.serial.as_deref(), Some("ABC"));
        assert_eq!((c.busnum, c.devnum), (3, 12));
        assert!(ft232h().matches(&c));
    }

    #[test]
    fn missing_ids_mean_no_info() {
        assert!(cable_info_from(Path::new("/sys/x"), "x", None, |_| None, |_| None).is_none());
    }

    #[test]
    fn dedup_by_syspath() {
        let mut d = Deduper::new(ft232h());
        let a = hs2("/sys/devices/x/1-2", "1-2", 5);
        assert_eq!(d.present(a.clone()), vec![CableEvent::Attached(a.clone())]);
        // Enumeration and monitor both saw it: reported once.
        assert!(d.present(a.clone()).is_empty());
        // Unknown removal: nothing.
        assert!(d.removed(Path::new("/sys/devices/other")).is_none());
        assert_eq!(
            d.removed(&a.syspath),
            Some(CableEvent::Detached {
                syspath: a.syspath.clone()
            })
        );
        assert!(d.removed(&a.syspath).is_none());
        // Same port again, new device number: a fresh attach.
        let b = hs2("/sys/devices/x/1-2", "1-2", 6);
        assert_eq!(d.present(b.clone()), vec![CableEvent::Attached(b)]);
    }

    #[test]
    fn missed_remove_becomes_detach_then_attach() {
        let mut d = Deduper::new(ft232h());
        let a = hs2("/sys/devices/x/1-2", "1-2", 5);
        d.present(a.clone());
        let b = hs2("/sys/devices/x/1-2", "1-2", 9);
        assert_eq!(
            d.present(b.clone()),
            vec![
                CableEvent::Detached {
                    syspath: a.syspath.clone()
                },
                CableEvent::Attached(b)
            ]
        );
    }

    #[test]
    fn filter_is_a_parameter() {
        let mut d = Deduper::new(DeviceFilter::new([]));
        assert!(d.present(hs2("/sys/a", "a", 1)).is_empty());
        assert!(d.removed(Path::new("/sys/a")).is_none());
    }
}
