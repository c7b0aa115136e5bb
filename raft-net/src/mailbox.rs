//! A queue between threads that never spins: a thread that waits sleeps on a
//! futex at once (std's `Mutex` and `Condvar`), and a sender wakes it only if
//! it sleeps, so a busy receiver costs its senders no system call and a
//! batch of sends wakes a sleeping receiver once. The receiver takes
//! everything queued in one call ([`MailReceiver::recv_batch`]).
//!
//! crossbeam-channel (and std's mpsc, a port of it) spin and then call
//! `sched_yield` before they park a receiver: on a 2-core machine with a dozen
//! threads handing work to each other, that was 22 `sched_yield` calls per
//! client request. Several senders, one receiver.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

struct State<T> {
    items: VecDeque<T>,
    /// The receiver sleeps and must be woken.
    receiver_waits: bool,
    /// Senders sleep for room and must be woken.
    senders_wait: usize,
    senders: usize,
    receiver_alive: bool,
}

struct Shared<T> {
    state: Mutex<State<T>>,
    /// Signalled when an item arrives or the last sender goes.
    arrived: Condvar,
    /// Signalled when room appears or the receiver goes.
    room: Condvar,
    capacity: usize,
}

impl<T> Shared<T> {
    /// The state; a panic of another thread while it held the lock left the
    /// queue itself consistent (every change is one push or drain).
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Sleeps on `cv` until woken or `deadline` (none: no limit); `Err` with the
/// guard back, without sleeping, if the deadline has passed.
fn sleep_until<'a, T>(
    cv: &Condvar,
    guard: MutexGuard<'a, State<T>>,
    deadline: Option<Instant>,
) -> Result<MutexGuard<'a, State<T>>, MutexGuard<'a, State<T>>> {
    let Some(deadline) = deadline else {
        return Ok(cv.wait(guard).unwrap_or_else(PoisonError::into_inner));
    };
    match deadline.checked_duration_since(Instant::now()) {
        Some(left) if !left.is_zero() => Ok(cv
            .wait_timeout(guard, left)
            .unwrap_or_else(PoisonError::into_inner)
            .0),
        _ => Err(guard),
    }
}

/// The sending side; clone it for more senders.
pub struct MailSender<T> {
    shared: Arc<Shared<T>>,
}

/// The receiving side (one).
pub struct MailReceiver<T> {
    shared: Arc<Shared<T>>,
}

/// A queue of at most `capacity` items.
pub fn bounded<T>(capacity: usize) -> (MailSender<T>, MailReceiver<T>) {
    assert!(capacity > 0, "a mailbox holds at least one item");
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            items: VecDeque::new(),
            receiver_waits: false,
            senders_wait: 0,
            senders: 1,
            receiver_alive: true,
        }),
        arrived: Condvar::new(),
        room: Condvar::new(),
        capacity,
    });
    (
        MailSender {
            shared: shared.clone(),
        },
        MailReceiver { shared },
    )
}

/// A queue without a bound (the sender must bound what it sends).
pub fn unbounded<T>() -> (MailSender<T>, MailReceiver<T>) {
    bounded(usize::MAX)
}

/// Why a send failed; the item comes back.
#[derive(Debug, PartialEq, Eq)]
pub enum SendError<T> {
    /// The queue stayed full (until the deadline, for a blocking send).
    Full(T),
    /// The receiver is gone.
    Disconnected(T),
}

/// Every sender is gone and the queue is empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Disconnected;

impl<T> MailSender<T> {
    /// Queues `item` if there is room now.
    pub fn try_send(&self, item: T) -> Result<(), SendError<T>> {
        self.send_until(item, Some(Instant::now()))
    }

    /// Queues `item`, waiting for room as long as it takes.
    pub fn send(&self, item: T) -> Result<(), SendError<T>> {
        self.send_until(item, None)
    }

    /// Queues `item`, waiting for room up to `timeout`.
    pub fn send_timeout(&self, item: T, timeout: Duration) -> Result<(), SendError<T>> {
        self.send_until(item, Some(Instant::now() + timeout))
    }

    /// Queues `item`, waiting for room until `deadline`.
    pub fn send_deadline(&self, item: T, deadline: Instant) -> Result<(), SendError<T>> {
        self.send_until(item, Some(deadline))
    }

    fn send_until(&self, item: T, deadline: Option<Instant>) -> Result<(), SendError<T>> {
        let sh = &self.shared;
        let mut st = sh.lock();
        loop {
            if !st.receiver_alive {
                return Err(SendError::Disconnected(item));
            }
            if st.items.len() < sh.capacity {
                break;
            }
            st.senders_wait += 1;
            let woken = sleep_until(&sh.room, st, deadline);
            let timed_out = woken.is_err();
            st = woken.unwrap_or_else(|g| g);
            st.senders_wait -= 1;
            if timed_out {
                return Err(SendError::Full(item));
            }
        }
        st.items.push_back(item);
        let wake = std::mem::take(&mut st.receiver_waits);
        drop(st);
        if wake {
            sh.arrived.notify_one();
        }
        Ok(())
    }
}

impl<T> Clone for MailSender<T> {
    fn clone(&self) -> Self {
        self.shared.lock().senders += 1;
        MailSender {
            shared: self.shared.clone(),
        }
    }
}

impl<T> Drop for MailSender<T> {
    fn drop(&mut self) {
        let mut st = self.shared.lock();
        st.senders -= 1;
        let last = st.senders == 0;
        drop(st);
        if last {
            self.shared.arrived.notify_one();
        }
    }
}

impl<T> MailReceiver<T> {
    /// Waits until something is queued (or `deadline` passes, if given), then
    /// moves up to `max` items into `out`, oldest first. `Ok` with nothing
    /// added means the deadline passed; `Err` that every sender is gone and
    /// nothing is left.
    pub fn recv_batch(
        &self,
        out: &mut Vec<T>,
        max: usize,
        deadline: Option<Instant>,
    ) -> Result<(), Disconnected> {
        let sh = &self.shared;
        let mut st = sh.lock();
        while st.items.is_empty() {
            if st.senders == 0 {
                return Err(Disconnected);
            }
            st.receiver_waits = true;
            let woken = sleep_until(&sh.arrived, st, deadline);
            let timed_out = woken.is_err();
            st = woken.unwrap_or_else(|g| g);
            st.receiver_waits = false;
            if timed_out {
                return Ok(());
            }
        }
        let n = st.items.len().min(max);
        out.extend(st.items.drain(..n));
        let wake = st.senders_wait > 0;
        drop(st);
        if wake {
            sh.room.notify_all();
        }
        Ok(())
    }

    /// Waits for one item; `None` once every sender is gone and nothing is left.
    pub fn recv(&self) -> Option<T> {
        let mut one = Vec::with_capacity(1);
        self.recv_batch(&mut one, 1, None).ok()?;
        one.pop()
    }

    /// How many items are queued now.
    pub fn len(&self) -> usize {
        self.shared.lock().items.len()
    }

    /// True if nothing is queued now.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<T> Drop for MailReceiver<T> {
    fn drop(&mut self) {
        let mut st = self.shared.lock();
        st.receiver_alive = false;
        st.items.clear();
        drop(st);
        self.shared.room.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_comes_out_in_order_and_bounded_by_max() {
        let (tx, rx) = bounded(8);
        for i in 0..5 {
            tx.try_send(i).expect("room");
        }
        let mut out = Vec::new();
        rx.recv_batch(&mut out, 3, None).expect("items");
        assert_eq!(out, [0, 1, 2]);
        rx.recv_batch(&mut out, 10, None).expect("items");
        assert_eq!(out, [0, 1, 2, 3, 4]);
    }

    #[test]
    fn a_full_queue_refuses_until_there_is_room() {
        let (tx, rx) = bounded(2);
        tx.try_send(1).expect("room");
        tx.try_send(2).expect("room");
        assert_eq!(tx.try_send(3), Err(SendError::Full(3)));
        let t0 = Instant::now();
        assert_eq!(
            tx.send_timeout(3, Duration::from_millis(20)),
            Err(SendError::Full(3))
        );
        assert!(t0.elapsed() >= Duration::from_millis(20), "waited for room");
        let sender = std::thread::spawn(move || tx.send(3));
        let mut out = Vec::new();
        rx.recv_batch(&mut out, 10, None).expect("items");
        sender.join().expect("no panic").expect("room appeared");
        rx.recv_batch(&mut out, 10, None).expect("items");
        assert_eq!(out, [1, 2, 3]);
    }

    #[test]
    fn a_deadline_passes_with_nothing_received() {
        let (_tx, rx) = bounded::<u8>(2);
        let mut out = Vec::new();
        let deadline = Instant::now() + Duration::from_millis(10);
        assert_eq!(rx.recv_batch(&mut out, 10, Some(deadline)), Ok(()));
        assert!(out.is_empty());
        assert!(Instant::now() >= deadline);
    }

    #[test]
    fn a_sleeping_receiver_is_woken_by_a_send() {
        let (tx, rx) = bounded(4);
        let receiver = std::thread::spawn(move || rx.recv());
        std::thread::sleep(Duration::from_millis(20));
        tx.send(7).expect("room");
        assert_eq!(receiver.join().expect("no panic"), Some(7));
    }

    #[test]
    fn the_receiver_learns_when_every_sender_is_gone_and_senders_when_it_is() {
        let (tx, rx) = bounded(4);
        let tx2 = tx.clone();
        tx.send(1).expect("room");
        drop(tx);
        drop(tx2);
        assert_eq!(rx.recv(), Some(1), "what was queued is still delivered");
        assert_eq!(rx.recv(), None);
        let (tx, rx) = bounded(4);
        drop(rx);
        assert_eq!(tx.send(1), Err(SendError::Disconnected(1)));
    }
}
