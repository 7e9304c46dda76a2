//! Threads that run the requests of frame connections that their reader hands off (see
//! `watchdog`), and take over a frame connection's reading.
//!
//! A job never waits behind another: when no thread is waiting for work, a new one
//! starts (up to `MAX_THREADS`), so a slow function holds up only itself, as with a
//! thread per HTTP connection. Threads that find no work for `IDLE_EXIT` end.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::Duration;

use crate::log;

/// Requests run at once; more wait in the queue.
const MAX_THREADS: usize = 1024;
const IDLE_EXIT: Duration = Duration::from_secs(30);

type Job = Box<dyn FnOnce() + Send>;

#[derive(Default)]
struct State {
    jobs: VecDeque<Job>,
    /// Threads blocked waiting for a job.
    waiting: usize,
    threads: usize,
    next_name: u64,
}

#[derive(Default)]
pub struct Pool {
    state: Mutex<State>,
    ready: Condvar,
}

impl Pool {
    /// Runs `job` on a waiting thread, or a new one when none waits.
    pub fn run(self: &Arc<Self>, job: Job) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.jobs.push_back(job);
        if state.jobs.len() <= state.waiting {
            self.ready.notify_one();
            return;
        }
        if state.threads >= MAX_THREADS {
            // Every thread is busy: the job waits for the next one to finish.
            return;
        }
        state.threads += 1;
        state.next_name += 1;
        let name = format!("req-{}", state.next_name);
        drop(state);
        let pool = Arc::clone(self);
        if let Err(e) = thread::Builder::new().name(name).spawn(move || pool.work()) {
            log::line(&format!("cannot start a thread: {}; the request waits for a free one", e));
            self.state.lock().unwrap_or_else(|e| e.into_inner()).threads -= 1;
        }
    }

    fn work(&self) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(job) = state.jobs.pop_front() {
                drop(state);
                job();
                state = self.state.lock().unwrap_or_else(|e| e.into_inner());
                continue;
            }
            state.waiting += 1;
            let (next, timeout) = self
                .ready
                .wait_timeout(state, IDLE_EXIT)
                .unwrap_or_else(|e| e.into_inner());
            state = next;
            state.waiting -= 1;
            if timeout.timed_out() && state.jobs.is_empty() {
                state.threads -= 1;
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Instant;

    #[test]
    fn a_slow_job_never_holds_up_the_next() {
        let pool = Arc::new(Pool::default());
        let (tx, rx) = mpsc::channel();
        let (release, blocked) = mpsc::channel::<()>();
        let slow_tx = tx.clone();
        pool.run(Box::new(move || {
            blocked.recv().unwrap();
            slow_tx.send("slow").unwrap();
        }));
        let started = Instant::now();
        for _ in 0..20 {
            let tx = tx.clone();
            pool.run(Box::new(move || tx.send("fast").unwrap()));
        }
        for _ in 0..20 {
            assert_eq!(rx.recv_timeout(Duration::from_secs(5)).unwrap(), "fast");
        }
        assert!(started.elapsed() < Duration::from_secs(5));
        release.send(()).unwrap();
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)).unwrap(), "slow");
    }
}
