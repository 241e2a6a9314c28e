//! How a served device's transfers run, whatever the wire: why a transfer ended
//! ([`Unfinished`]), a wire's status codes for it as data ([`StatusTable`]), how a transfer's
//! time is cut into slices ([`Slices`]), the slice loop every bulk transfer waits in
//! ([`in_slices`]), the bulk OUT loop that never sends a byte twice ([`bulk_out`]), and the
//! thread that runs one endpoint's requests in order ([`EndpointWorker`]).
//!
//! It exists because the emulated device is served on two wires — the framed pipe of
//! `usb_pipe` (for the umockdev harness) and usbredir (for QEMU guests) — and both must run a
//! transfer the same way: look at cancellations and unplugs between slices, end at the
//! deadline, count what the chip took before a slice timed out. Each wire keeps its framing,
//! its status codes (a [`StatusTable`]) and what it alone does while waiting (the pipe's halted
//! IN endpoint, usbredir's leftover IN bytes); the rest is here, once.

use crate::ftdi::transport::{UsbError, UsbTransport};
use std::io;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Why a transfer ended without its answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unfinished {
    /// Its deadline passed.
    #[error("transfer timed out")]
    TimedOut,
    /// The host cancelled it, or the server is stopping.
    #[error("transfer cancelled")]
    Cancelled,
    /// The device was pulled.
    #[error("device unplugged")]
    Unplugged,
    /// The device failed it.
    #[error(transparent)]
    Failed(#[from] UsbError),
}

/// A wire's status codes: what it answers for each way a transfer can end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusTable {
    /// The transfer completed.
    pub ok: u8,
    /// The deadline passed, or the device reported a timeout.
    pub timed_out: u8,
    /// The host cancelled the transfer.
    pub cancelled: u8,
    /// The device is gone: pulled, or it reported itself disconnected.
    pub unplugged: u8,
    /// Any other failure the device reported.
    pub failed: u8,
}

impl StatusTable {
    /// The status for a failure the device reported.
    pub fn for_error(&self, error: &UsbError) -> u8 {
        match error {
            UsbError::Timeout => self.timed_out,
            UsbError::Disconnected => self.unplugged,
            _ => self.failed,
        }
    }

    /// The status for a transfer that ended without its answer.
    pub fn for_unfinished(&self, why: &Unfinished) -> u8 {
        match why {
            Unfinished::TimedOut => self.timed_out,
            Unfinished::Cancelled => self.cancelled,
            Unfinished::Unplugged => self.unplugged,
            Unfinished::Failed(error) => self.for_error(error),
        }
    }

    /// The status for how a transfer ended.
    pub fn for_outcome<T>(&self, outcome: &Result<T, Unfinished>) -> u8 {
        match outcome {
            Ok(_) => self.ok,
            Err(why) => self.for_unfinished(why),
        }
    }
}

/// How a transfer's time is cut: slices of at most one length, until a deadline if it has
/// one. A device call blocks for one slice at most, so that between slices the transfer
/// looks again at cancellations and unplugs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slices {
    deadline: Option<Instant>,
    longest: Duration,
}

impl Slices {
    /// Slices of `longest` until `timeout` from now.
    pub fn within(timeout: Duration, longest: Duration) -> Self {
        Slices {
            deadline: Some(Instant::now() + timeout),
            longest,
        }
    }

    /// Slices of `longest` without end: the transfer runs until done, cancelled or unplugged.
    pub fn endless(longest: Duration) -> Self {
        Slices {
            deadline: None,
            longest,
        }
    }

    /// The slice to take at `now`: the longest, cut short by the deadline; `None` once the
    /// deadline has passed.
    pub fn next_at(&self, now: Instant) -> Option<Duration> {
        match self.deadline {
            None => Some(self.longest),
            Some(deadline) => {
                let left = deadline.saturating_duration_since(now);
                (!left.is_zero()).then(|| left.min(self.longest))
            }
        }
    }

    /// The slice to take now (see [`Slices::next_at`]).
    pub fn next(&self) -> Option<Duration> {
        self.next_at(Instant::now())
    }
}

/// Tries `attempt` one slice at a time until it gives an answer. Before every slice, `ready`
/// says whether the transfer may go on — handing over the device to try it on — or why it
/// ends (cancelled, unplugged); then `slices` says whether time is left. `attempt` answers
/// `None` for "nothing yet, try again".
pub fn in_slices<D, T>(
    slices: Slices,
    mut ready: impl FnMut() -> Result<D, Unfinished>,
    mut attempt: impl FnMut(&D, Duration) -> Option<Result<T, UsbError>>,
) -> Result<T, Unfinished> {
    loop {
        let device = ready()?;
        let slice = slices.next().ok_or(Unfinished::TimedOut)?;
        if let Some(answer) = attempt(&device, slice) {
            return answer.map_err(Unfinished::Failed);
        }
    }
}

/// An interface's bulk OUT endpoint, for one slice of a transfer.
#[derive(Clone, Copy)]
pub struct OutPort<'a> {
    /// The interface's transport.
    pub usb: &'a dyn UsbTransport,
    /// Total bytes the endpoint has accepted, if the interface can tell. A `write_bulk` that
    /// times out part-way reports no count; with this the loop still knows how far it got.
    pub accepted: Option<&'a (dyn Fn() -> u64 + Send + Sync)>,
}

impl OutPort<'_> {
    fn accepted_now(&self) -> Option<u64> {
        self.accepted.map(|count| count())
    }
}

/// How far a bulk OUT got, and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// Bytes the device took, also when the transfer did not finish.
    pub written: usize,
    /// How the transfer ended.
    pub outcome: Result<(), Unfinished>,
}

/// Writes `data` to the OUT endpoint that `port` finds on the device `ready` hands over, one
/// slice at a time (as [`in_slices`] runs them), until all of it is taken. A slice that times
/// out part-way still counts what the endpoint's count saw go in, so no byte is sent twice.
/// An empty `data` is offered to the device once, as a zero-length packet.
pub fn bulk_out<D>(
    data: &[u8],
    slices: Slices,
    ready: impl FnMut() -> Result<D, Unfinished>,
    port: impl for<'d> Fn(&'d D) -> OutPort<'d>,
) -> Sent {
    let mut written = 0usize;
    let outcome = in_slices(slices, ready, |device, slice| {
        let port = port(device);
        let before = port.accepted_now();
        match port.usb.write_bulk(&data[written..], slice) {
            Ok(n) => {
                written += n;
                (written == data.len()).then_some(Ok(()))
            }
            Err(UsbError::Timeout) => {
                if let (Some(before), Some(after)) = (before, port.accepted_now()) {
                    let taken = after.saturating_sub(before) as usize;
                    written = (written + taken).min(data.len());
                }
                (!data.is_empty() && written == data.len()).then_some(Ok(()))
            }
            Err(error) => Some(Err(error)),
        }
    });
    Sent { written, outcome }
}

/// A thread that runs one endpoint's requests (or the control endpoint's) in the order they
/// are queued, so that a request waiting on one endpoint never holds up another. It ends
/// once its queue is dropped and the requests in it are done.
pub struct EndpointWorker<J> {
    queue: mpsc::Sender<J>,
    thread: JoinHandle<()>,
}

impl<J: Send + 'static> EndpointWorker<J> {
    /// Starts the thread `name`, which runs `run` on every request queued to it.
    pub fn spawn(name: String, mut run: impl FnMut(J) + Send + 'static) -> io::Result<Self> {
        let (queue, requests) = mpsc::channel::<J>();
        let thread = std::thread::Builder::new().name(name).spawn(move || {
            for request in requests {
                run(request);
            }
        })?;
        Ok(EndpointWorker { queue, thread })
    }

    /// Queues `request`. A worker whose thread has died (it panicked) drops it unanswered.
    pub fn queue(&self, request: J) {
        let _ = self.queue.send(request);
    }

    /// Closes every worker's queue, then waits for each to finish what it holds.
    pub fn finish_all(workers: impl IntoIterator<Item = Self>) {
        let threads: Vec<JoinHandle<()>> = workers
            .into_iter()
            .map(|worker| {
                drop(worker.queue);
                worker.thread
            })
            .collect();
        for thread in threads {
            let _ = thread.join();
        }
    }
}

/// A chip whose OUT FIFO stalls, for the bulk OUT tests of this module and of the wires: it
/// takes at most `per_call` bytes per write and reports a timeout (without a count) whenever
/// it could not take everything.
#[cfg(test)]
pub(crate) struct StingyChip {
    per_call: usize,
    /// Every byte taken, in order.
    pub got: parking_lot::Mutex<Vec<u8>>,
}

#[cfg(test)]
impl StingyChip {
    pub fn taking(per_call: usize) -> Self {
        StingyChip {
            per_call,
            got: parking_lot::Mutex::new(Vec::new()),
        }
    }
}

#[cfg(test)]
impl UsbTransport for StingyChip {
    fn control_out(&self, _: u8, _: u16, _: u16, _: Duration) -> Result<(), UsbError> {
        Ok(())
    }
    fn control_in(
        &self,
        _: u8,
        _: u16,
        _: u16,
        _: &mut [u8],
        _: Duration,
    ) -> Result<usize, UsbError> {
        Ok(0)
    }
    fn write_bulk(&self, data: &[u8], _: Duration) -> Result<usize, UsbError> {
        let n = data.len().min(self.per_call);
        self.got.lock().extend_from_slice(&data[..n]);
        if n < data.len() {
            Err(UsbError::Timeout)
        } else {
            Ok(n)
        }
    }
    fn read_bulk(&self, _: &mut [u8], _: Duration) -> Result<usize, UsbError> {
        Err(UsbError::Timeout)
    }
    fn max_packet_size(&self) -> usize {
        512
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use parking_lot::Mutex;

    const TABLE: StatusTable = StatusTable {
        ok: 10,
        timed_out: 11,
        cancelled: 12,
        unplugged: 13,
        failed: 14,
    };

    #[test]
    fn a_status_table_names_every_ending() {
        assert_eq!(TABLE.for_error(&UsbError::Timeout), 11);
        assert_eq!(TABLE.for_error(&UsbError::Disconnected), 13);
        assert_eq!(TABLE.for_error(&UsbError::Busy), 14);
        assert_eq!(TABLE.for_error(&UsbError::Other("x".into())), 14);
        assert_eq!(TABLE.for_unfinished(&Unfinished::TimedOut), 11);
        assert_eq!(TABLE.for_unfinished(&Unfinished::Cancelled), 12);
        assert_eq!(TABLE.for_unfinished(&Unfinished::Unplugged), 13);
        assert_eq!(TABLE.for_outcome(&Ok::<(), Unfinished>(())), 10);
        assert_eq!(
            TABLE.for_outcome::<()>(&Err(UsbError::Disconnected.into())),
            13
        );
    }

    #[test]
    fn slices_are_cut_short_by_the_deadline() {
        let longest = Duration::from_millis(100);
        let now = Instant::now();
        let endless = Slices::endless(longest);
        assert_eq!(
            endless.next_at(now + Duration::from_secs(3600)),
            Some(longest)
        );
        let timed = Slices {
            deadline: Some(now + Duration::from_millis(250)),
            longest,
        };
        assert_eq!(timed.next_at(now), Some(longest));
        assert_eq!(
            timed.next_at(now + Duration::from_millis(200)),
            Some(Duration::from_millis(50))
        );
        assert_eq!(timed.next_at(now + Duration::from_millis(250)), None);
        assert_eq!(timed.next_at(now + Duration::from_secs(1)), None);
    }

    #[test]
    fn the_slice_loop_stops_when_ready_says_so_or_time_is_up() {
        let tries = std::cell::Cell::new(0);
        let answer = in_slices(
            Slices::endless(Duration::from_millis(1)),
            || match tries.get() {
                0..3 => Ok(()),
                _ => Err(Unfinished::Cancelled),
            },
            |_, _| -> Option<Result<(), UsbError>> {
                tries.set(tries.get() + 1);
                None
            },
        );
        assert_eq!((answer, tries.get()), (Err(Unfinished::Cancelled), 3));
        let expired = Slices::within(Duration::ZERO, Duration::from_millis(1));
        let answer = in_slices(expired, || Ok(()), |_, _| Some(Ok::<u8, UsbError>(1)));
        assert_eq!(answer, Err(Unfinished::TimedOut));
        let answer = in_slices(
            Slices::endless(Duration::from_millis(1)),
            || Ok(()),
            |_, _| Some(Err::<u8, UsbError>(UsbError::Busy)),
        );
        assert_eq!(answer, Err(Unfinished::Failed(UsbError::Busy)));
    }

    /// A slice loop that never stops on its own, on `port` (handed over as the device).
    fn run_out(data: &[u8], port: OutPort<'_>, mut ready: impl FnMut() -> bool) -> Sent {
        bulk_out(
            data,
            Slices::endless(Duration::from_millis(1)),
            || ready().then_some(port).ok_or(Unfinished::Cancelled),
            |port| *port,
        )
    }

    #[test]
    fn bulk_out_counts_what_went_in_before_a_timeout() {
        let chip = StingyChip::taking(3);
        let count = || chip.got.lock().len() as u64;
        let port = OutPort {
            usb: &chip,
            accepted: Some(&count),
        };
        let data: Vec<u8> = (1..=8).collect();
        let sent = run_out(&data, port, || true);
        assert_eq!(
            sent,
            Sent {
                written: 8,
                outcome: Ok(())
            }
        );
        assert_eq!(*chip.got.lock(), data);
    }

    #[test]
    fn bulk_out_without_a_count_knows_only_of_whole_writes() {
        let chip = StingyChip::taking(3);
        let port = OutPort {
            usb: &chip,
            accepted: None,
        };
        let mut slices = 0;
        let sent = run_out(&[1, 2, 3, 4, 5], port, || {
            slices += 1;
            slices == 1
        });
        assert_eq!(
            sent,
            Sent {
                written: 0,
                outcome: Err(Unfinished::Cancelled)
            }
        );
        assert_eq!(*chip.got.lock(), [1, 2, 3]);
        let empty = run_out(&[], port, || true);
        assert_eq!(
            empty,
            Sent {
                written: 0,
                outcome: Ok(())
            }
        );
    }

    #[test]
    fn workers_run_their_requests_in_order_and_finish_them() {
        let seen = std::sync::Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let worker =
            EndpointWorker::spawn("test-worker".into(), move |n: u32| log.lock().push(n)).unwrap();
        for n in 0..5 {
            worker.queue(n);
        }
        EndpointWorker::finish_all([worker]);
        assert_eq!(*seen.lock(), vec![0, 1, 2, 3, 4]);
    }
}
