//! Where a server's cable is at any moment: here and free, lent to one client's session,
//! failed (waiting for its owner to reopen it), or closed (the server has stopped).
//!
//! One mutex guards the whole answer, so no reader ever sees "no cable" while one is being
//! lent, and the cable comes back the moment a session is over — before its connection's
//! graceful close. Clients that wait for the cable (`on_busy: queue`, or a newcomer whose
//! holder is already leaving) stand in line and are served in arrival order.

use super::connection::{peer_state, PeerState};
use crate::jtag::Cable;
use parking_lot::Mutex;
use std::collections::VecDeque;
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::Notify;

/// The client a cable is lent to.
pub struct Holder {
    pub peer: SocketAddr,
    pub since: SystemTime,
    started: Instant,
    /// Milliseconds after `started` of the last command (0: none yet).
    last_command_ms: AtomicU64,
    /// A handle on the session's socket: to see whether the peer is still there, and to end
    /// the session (shutting its reading side lets the in-flight command finish first).
    socket: TcpStream,
    disconnected_by: Mutex<Option<String>>,
}

impl Holder {
    pub fn new(peer: SocketAddr, socket: TcpStream) -> Holder {
        Holder {
            peer,
            since: SystemTime::now(),
            started: Instant::now(),
            last_command_ms: AtomicU64::new(0),
            socket,
            disconnected_by: Mutex::new(None),
        }
    }

    /// Records that a command arrived now.
    pub(crate) fn touch(&self) {
        let ms = self.started.elapsed().as_millis() as u64;
        self.last_command_ms.store(ms, Ordering::Relaxed);
    }

    /// Time since the last command (since connecting, before the first).
    pub(crate) fn idle_for(&self) -> Duration {
        let last = Duration::from_millis(self.last_command_ms.load(Ordering::Relaxed));
        self.started.elapsed().saturating_sub(last)
    }

    /// True while the client is connected and nobody has asked to end its session: such a
    /// holder is never cut short for a newcomer.
    pub(crate) fn is_live(&self) -> bool {
        !self.is_disconnected() && peer_state(&self.socket) == PeerState::Open
    }

    /// True once [`Holder::disconnect`] was called (checked between commands: no copy made).
    pub(crate) fn is_disconnected(&self) -> bool {
        self.disconnected_by.lock().is_some()
    }

    /// Who ended the session with [`Holder::disconnect`], if anyone did.
    pub(crate) fn disconnected_by(&self) -> Option<String> {
        self.disconnected_by.lock().clone()
    }

    /// Ends the session after its in-flight command, on an administrator's request.
    pub fn disconnect(&self, by: String) {
        *self.disconnected_by.lock() = Some(by);
        self.stop_reading();
    }

    /// Makes the session's next read return at once (its in-flight command still completes
    /// and its reply still goes out).
    pub(crate) fn stop_reading(&self) {
        let _ = self.socket.shutdown(Shutdown::Read);
    }

    /// The connection will be reset rather than closed cleanly: for a session cut off in the
    /// middle of a reply, so the client sees an error, not a clean end after a cut reply.
    pub(crate) fn reset_on_close(&self) {
        let _ = socket2::SockRef::from(&self.socket).set_linger(Some(Duration::ZERO));
    }
}

enum Holding {
    Free(Box<dyn Cable>),
    Lent(Arc<Holder>),
    Failed,
    Closed,
}

struct State {
    holding: Holding,
    /// Tickets of the clients waiting for the cable, first come first.
    line: VecDeque<u64>,
    next_ticket: u64,
}

/// What [`CableSlot::lend`] did.
pub(crate) enum Lend {
    /// The cable, now lent to the given holder.
    Lent(Box<dyn Cable>),
    /// Another client holds it.
    Held(Arc<Holder>),
    /// It is free but promised to a client earlier in line.
    NotYourTurn,
    /// The cable failed and has not been reopened.
    Unavailable,
    /// The server has stopped.
    Closed,
}

/// What [`CableSlot::close`] found.
pub(crate) enum Closing {
    /// Closed; the cable, unless it had failed.
    Done(Option<Box<dyn Cable>>),
    /// Still lent: the holder must let go first.
    Held(Arc<Holder>),
}

/// The one place a server's cable lives.
pub(crate) struct CableSlot {
    state: Mutex<State>,
    changed: Notify,
}

impl CableSlot {
    /// A slot holding `cable`, or failed without one.
    pub fn new(cable: Option<Box<dyn Cable>>) -> CableSlot {
        CableSlot {
            state: Mutex::new(State {
                holding: cable.map_or(Holding::Failed, Holding::Free),
                line: VecDeque::new(),
                next_ticket: 0,
            }),
            changed: Notify::new(),
        }
    }

    /// Notified whenever the cable comes back, is installed, the line moves or the slot
    /// closes. Enable the `notified()` future before checking, so no change is missed.
    pub fn changed(&self) -> &Notify {
        &self.changed
    }

    /// Lends the cable to `holder` if it is free and it is this client's turn: a client
    /// with a `ticket` must be first in line; one without may take it only if nobody waits.
    pub(crate) fn lend(&self, ticket: Option<u64>, holder: &Arc<Holder>) -> Lend {
        let mut state = self.state.lock();
        let my_turn = match ticket {
            Some(t) => state.line.front() == Some(&t),
            None => state.line.is_empty(),
        };
        match &state.holding {
            Holding::Lent(h) => return Lend::Held(h.clone()),
            Holding::Failed => return Lend::Unavailable,
            Holding::Closed => return Lend::Closed,
            Holding::Free(_) if !my_turn => return Lend::NotYourTurn,
            Holding::Free(_) => {}
        }
        if ticket.is_some() {
            state.line.pop_front();
        }
        match std::mem::replace(&mut state.holding, Holding::Lent(holder.clone())) {
            Holding::Free(cable) => Lend::Lent(cable),
            _ => unreachable!("checked above"),
        }
    }

    /// Joins the line of waiting clients.
    pub(crate) fn join_line(&self) -> u64 {
        let mut state = self.state.lock();
        let ticket = state.next_ticket;
        state.next_ticket += 1;
        state.line.push_back(ticket);
        ticket
    }

    /// Leaves the line (served elsewhere, refused, gone or timed out).
    pub(crate) fn leave_line(&self, ticket: u64) {
        self.state.lock().line.retain(|&t| t != ticket);
        self.changed.notify_waiters();
    }

    /// A session hands the cable back (`None`: it failed). Ignored unless `holder` holds it.
    pub(crate) fn give_back(&self, holder: &Arc<Holder>, cable: Option<Box<dyn Cable>>) {
        let mut state = self.state.lock();
        if matches!(&state.holding, Holding::Lent(h) if Arc::ptr_eq(h, holder)) {
            state.holding = cable.map_or(Holding::Failed, Holding::Free);
        }
        drop(state);
        self.changed.notify_waiters();
    }

    /// Installs a (re)opened cable. Returns it if the slot cannot take it (lent or closed).
    pub fn install(&self, cable: Box<dyn Cable>) -> Option<Box<dyn Cable>> {
        let mut state = self.state.lock();
        let refused = match state.holding {
            Holding::Free(_) | Holding::Failed => {
                state.holding = Holding::Free(cable);
                None
            }
            Holding::Lent(_) | Holding::Closed => Some(cable),
        };
        drop(state);
        self.changed.notify_waiters();
        refused
    }

    /// The client holding the cable.
    pub fn holder(&self) -> Option<Arc<Holder>> {
        match &self.state.lock().holding {
            Holding::Lent(h) => Some(h.clone()),
            _ => None,
        }
    }

    /// True when there is a usable cable, free or lent.
    pub fn has_cable(&self) -> bool {
        matches!(
            self.state.lock().holding,
            Holding::Free(_) | Holding::Lent(_)
        )
    }

    /// Closes the slot and takes the cable out, unless it is still lent.
    pub fn close(&self) -> Closing {
        let mut state = self.state.lock();
        let closing = match std::mem::replace(&mut state.holding, Holding::Closed) {
            Holding::Free(cable) => Closing::Done(Some(cable)),
            Holding::Failed | Holding::Closed => Closing::Done(None),
            Holding::Lent(h) => {
                state.holding = Holding::Lent(h.clone());
                Closing::Held(h)
            }
        };
        drop(state);
        self.changed.notify_waiters();
        closing
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::{DirectCable, JtagChain};
    use std::net::TcpListener;

    fn holder() -> (Arc<Holder>, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, peer) = listener.accept().unwrap();
        (Arc::new(Holder::new(peer, server)), client)
    }

    fn cable() -> Box<dyn Cable> {
        Box::new(DirectCable::new(JtagChain::xc7a35t()))
    }

    #[test]
    fn lent_cable_counts_as_present_and_comes_back() {
        let slot = CableSlot::new(Some(cable()));
        let (a, _ca) = holder();
        let Lend::Lent(c) = slot.lend(None, &a) else {
            panic!("free cable not lent")
        };
        assert!(slot.has_cable());
        assert!(Arc::ptr_eq(&slot.holder().unwrap(), &a));
        let (b, _cb) = holder();
        assert!(matches!(slot.lend(None, &b), Lend::Held(h) if Arc::ptr_eq(&h, &a)));
        // Only the holder can give it back.
        slot.give_back(&b, None);
        assert!(slot.holder().is_some());
        slot.give_back(&a, Some(c));
        assert!(slot.holder().is_none() && slot.has_cable());
        assert!(matches!(slot.lend(None, &b), Lend::Lent(_)));
    }

    #[test]
    fn waiting_clients_are_served_in_order_and_newcomers_queue_behind_them() {
        let slot = CableSlot::new(Some(cable()));
        let (a, _ca) = holder();
        let Lend::Lent(c) = slot.lend(None, &a) else {
            panic!()
        };
        let first = slot.join_line();
        let second = slot.join_line();
        slot.give_back(&a, Some(c));
        let (b, _cb) = holder();
        assert!(matches!(slot.lend(None, &b), Lend::NotYourTurn));
        assert!(matches!(slot.lend(Some(second), &b), Lend::NotYourTurn));
        let Lend::Lent(c) = slot.lend(Some(first), &b) else {
            panic!("first in line not served")
        };
        slot.give_back(&b, Some(c));
        slot.leave_line(second);
        assert!(matches!(slot.lend(None, &a), Lend::Lent(_)));
    }

    #[test]
    fn failed_cable_is_unavailable_until_installed_and_close_takes_it() {
        let slot = CableSlot::new(None);
        let (a, _ca) = holder();
        assert!(matches!(slot.lend(None, &a), Lend::Unavailable));
        assert!(!slot.has_cable());
        assert!(slot.install(cable()).is_none());
        let Lend::Lent(c) = slot.lend(None, &a) else {
            panic!()
        };
        assert!(matches!(slot.close(), Closing::Held(_)));
        slot.give_back(&a, Some(c));
        assert!(matches!(slot.close(), Closing::Done(Some(_))));
        assert!(matches!(slot.lend(None, &a), Lend::Closed));
        assert!(
            slot.install(cable()).is_some(),
            "a closed slot takes no cable"
        );
    }

    #[test]
    fn a_holder_whose_peer_left_or_was_disconnected_is_not_live() {
        let (a, ca) = holder();
        assert!(a.is_live());
        drop(ca);
        let deadline = Instant::now() + Duration::from_secs(5);
        while a.is_live() {
            assert!(Instant::now() < deadline, "peer's close not seen");
            std::thread::sleep(Duration::from_millis(1));
        }
        let (b, _cb) = holder();
        b.disconnect("uid 0".into());
        assert!(!b.is_live());
        assert_eq!(b.disconnected_by().as_deref(), Some("uid 0"));
    }

    #[test]
    fn idle_time_counts_from_the_last_command() {
        let (a, _ca) = holder();
        std::thread::sleep(Duration::from_millis(300));
        assert!(a.idle_for() >= Duration::from_millis(300));
        a.touch();
        assert!(a.idle_for() < Duration::from_millis(300));
    }
}
