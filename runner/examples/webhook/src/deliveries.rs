//! The delivery IDs already seen (`X-GitHub-Delivery`), kept in the app's data directory so
//! that a replayed delivery is refused after a restart or a redeploy too.
//!
//! One line per ID in `deliveries.txt`, appended and synced before the delivery is answered.
//! GitHub signs no timestamp, so the IDs are the only defence against a replay: the last
//! `KEEP` of them are kept, far more than GitHub redelivers.

use std::collections::HashSet;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// IDs kept; past twice this many lines the file is cut back to the newest `KEEP`.
pub const KEEP: usize = 10_000;
const FILE: &str = "deliveries.txt";

/// The IDs seen, in memory and on disk.
pub struct Deliveries {
    path: PathBuf,
    keep: usize,
    seen: HashSet<String>,
    /// In arrival order, as in the file.
    order: Vec<String>,
}

impl Deliveries {
    /// Reads the IDs kept in `dir` (none yet: an empty list).
    pub fn open(dir: &Path) -> io::Result<Deliveries> {
        Deliveries::open_keeping(dir, KEEP)
    }

    /// The same, keeping the newest `keep` IDs.
    pub fn open_keeping(dir: &Path, keep: usize) -> io::Result<Deliveries> {
        let path = dir.join(FILE);
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(e),
        };
        let order: Vec<String> = text.lines().filter(|l| !l.is_empty()).map(String::from).collect();
        let seen = order.iter().cloned().collect();
        Ok(Deliveries { path, keep, seen, order })
    }

    /// Records `id`; `false` when it was seen before (a replay). The ID is on disk before
    /// this returns `true`.
    pub fn record(&mut self, id: &str) -> io::Result<bool> {
        if self.seen.contains(id) {
            return Ok(false);
        }
        let mut file = OpenOptions::new().create(true).append(true).open(&self.path)?;
        file.write_all(format!("{}\n", id).as_bytes())?;
        file.sync_data()?;
        self.seen.insert(id.to_string());
        self.order.push(id.to_string());
        if self.order.len() > 2 * self.keep {
            self.compact()?;
        }
        Ok(true)
    }

    /// Keeps the newest `keep` IDs, through `rustless::write_durable`: a crash or a power cut
    /// leaves the old list or the new one, whole.
    fn compact(&mut self) -> io::Result<()> {
        let dropped: Vec<String> = self.order.drain(..self.order.len() - self.keep).collect();
        for id in &dropped {
            self.seen.remove(id);
        }
        let list: String = self.order.iter().map(|id| format!("{}\n", id)).collect();
        rustless::write_durable(&self.path, list)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("webhook-test-{}-{}", name, std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_second_delivery_with_the_same_id_is_a_replay_even_after_a_restart() {
        let dir = temp_dir("replay");
        let mut d = Deliveries::open(&dir).unwrap();
        assert!(d.record("72d3162e-cc78-11e3-81ab-4c9367dc0958").unwrap());
        assert!(d.record("b1a2c3d4-0000-11e3-81ab-4c9367dc0958").unwrap());
        assert!(!d.record("72d3162e-cc78-11e3-81ab-4c9367dc0958").unwrap());
        let mut reopened = Deliveries::open(&dir).unwrap();
        assert!(!reopened.record("72d3162e-cc78-11e3-81ab-4c9367dc0958").unwrap());
        assert!(reopened.record("another").unwrap());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn keeps_the_newest_ids_only() {
        let dir = temp_dir("compact");
        let mut d = Deliveries::open_keeping(&dir, 3).unwrap();
        for i in 0..=6 {
            assert!(d.record(&i.to_string()).unwrap());
        }
        let lines: Vec<String> = fs::read_to_string(dir.join(FILE)).unwrap().lines().map(String::from).collect();
        assert_eq!(lines, ["4", "5", "6"]);
        let mut reopened = Deliveries::open_keeping(&dir, 3).unwrap();
        assert!(!reopened.record("6").unwrap(), "the newest is kept");
        assert!(reopened.record("0").unwrap(), "the oldest is forgotten");
        fs::remove_dir_all(&dir).unwrap();
    }
}
