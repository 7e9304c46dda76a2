//! One thread that keeps a frame connection's reading going when the function its
//! reader runs is slow.
//!
//! A frame connection's reader runs the requests it reads itself: no thread switch per
//! request, and answers that finish together leave in one write. A slow function would
//! then hold up the requests behind it, so this thread looks at every frame connection
//! each `TICK`, and one whose reader has been away from reading for a whole tick gets its
//! reading and its waiting requests moved to other threads (see `server::FrameConnection`).
//! It sleeps while no frame connection is busy, so an idle runner has no timer running.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::thread;
use std::time::Duration;

use crate::log;

/// How often busy connections are looked at: a slow function holds up the requests read
/// with it for one to two ticks at most.
const TICK: Duration = Duration::from_millis(1);
/// Ticks without a busy connection before the thread sleeps until the next `kick`.
const IDLE_TICKS: u32 = 200;

/// Something the watchdog looks at every tick.
pub trait Watched: Send + Sync {
    /// Looks once; `true` while there is work in progress worth looking at again.
    fn tick(self: Arc<Self>) -> bool;
}

#[derive(Default)]
pub struct Watchdog {
    watched: Mutex<Watchers>,
    woken: Condvar,
    /// The thread is ticking (not asleep). Read without the lock by `kick`.
    awake: AtomicBool,
}

#[derive(Default)]
struct Watchers {
    list: Vec<Weak<dyn Watched>>,
    started: bool,
}

impl Watchdog {
    /// Looks at `item` from now on, for as long as it lives.
    pub fn watch(self: &Arc<Self>, item: Weak<dyn Watched>) {
        let mut watched = self.lock();
        watched.list.push(item);
        if watched.started {
            return;
        }
        watched.started = true;
        let watchdog = Arc::clone(self);
        if let Err(e) = thread::Builder::new()
            .name("watchdog".to_string())
            .spawn(move || watchdog.run())
        {
            // Without it a slow function holds up its connection until it returns.
            log::line(&format!("cannot start the watchdog thread: {}", e));
            watched.started = false;
        }
    }

    /// Says that a watched item just became busy: wakes the thread if it sleeps. Call it
    /// after making the item's busy state visible to `tick` (under the item's lock).
    pub fn kick(&self) {
        if self.awake.load(Ordering::SeqCst) {
            return;
        }
        let _watched = self.lock();
        if !self.awake.swap(true, Ordering::SeqCst) {
            self.woken.notify_one();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Watchers> {
        self.watched.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn run(&self) {
        self.awake.store(true, Ordering::SeqCst);
        let mut idle = 0;
        loop {
            thread::sleep(TICK);
            if self.tick_all() {
                idle = 0;
                continue;
            }
            idle += 1;
            if idle < IDLE_TICKS {
                continue;
            }
            // Going to sleep: say so first, then look once more, so that an item that
            // became busy meanwhile either is seen here or sees `awake` false and kicks.
            self.awake.store(false, Ordering::SeqCst);
            if self.tick_all() {
                self.awake.store(true, Ordering::SeqCst);
                idle = 0;
                continue;
            }
            let mut watched = self.lock();
            while !self.awake.load(Ordering::SeqCst) {
                watched = self.woken.wait(watched).unwrap_or_else(|e| e.into_inner());
            }
            idle = 0;
        }
    }

    /// Ticks every live item; `true` when any is busy.
    fn tick_all(&self) -> bool {
        let items: Vec<Arc<dyn Watched>> = {
            let mut watched = self.lock();
            watched.list.retain(|item| item.strong_count() > 0);
            watched.list.iter().filter_map(|item| item.upgrade()).collect()
        };
        let mut busy = false;
        for item in items {
            busy |= item.tick();
        }
        busy
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::time::Instant;

    /// Busy until it has been ticked `busy_for` times.
    struct Counter {
        ticks: AtomicUsize,
        busy_for: usize,
    }

    impl Watched for Counter {
        fn tick(self: Arc<Self>) -> bool {
            self.ticks.fetch_add(1, Ordering::SeqCst) + 1 < self.busy_for
        }
    }

    #[test]
    fn ticks_busy_items_and_sleeps_when_none_is() {
        let watchdog = Arc::new(Watchdog::default());
        let item = Arc::new(Counter {
            ticks: AtomicUsize::new(0),
            busy_for: 3,
        });
        let weak: Weak<dyn Watched> = Arc::downgrade(&(Arc::clone(&item) as Arc<dyn Watched>));
        watchdog.watch(weak);
        let started = Instant::now();
        while watchdog.awake.load(Ordering::SeqCst) || item.ticks.load(Ordering::SeqCst) < 3 {
            assert!(started.elapsed() < Duration::from_secs(5), "the watchdog never went to sleep");
            thread::sleep(Duration::from_millis(5));
        }
        // Asleep (past its last look): no more ticks until a kick.
        thread::sleep(Duration::from_millis(10));
        let asleep = item.ticks.load(Ordering::SeqCst);
        thread::sleep(Duration::from_millis(20));
        assert_eq!(item.ticks.load(Ordering::SeqCst), asleep);
        watchdog.kick();
        let started = Instant::now();
        while item.ticks.load(Ordering::SeqCst) == asleep {
            assert!(started.elapsed() < Duration::from_secs(5), "a kick did not wake the watchdog");
            thread::sleep(Duration::from_millis(1));
        }
    }
}
