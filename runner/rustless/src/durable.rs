//! Writing a file in the data directory so that an answer can promise it: after a crash or a
//! power cut the file holds the old content or the new one, whole, and the new one for sure once
//! [`write_durable`] returned.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Replaces `path`'s content with `contents`, atomically and durably.
///
/// It writes a temporary file beside `path`, syncs it to the disk (`fsync`), renames it over
/// `path` and syncs the directory, which is what makes the rename itself survive a power cut.
/// Answer `201` only after it returned `Ok`: then a power cut a moment later loses nothing. On
/// an error (a full disk, say) `path` keeps its old content and no temporary file is left;
/// the error names the file. Threads may save the same file at once: each write has its own
/// temporary file, and the last rename wins whole.
///
/// A plain `fs::write` is not enough: the page cache may hold it for half a minute, and a cut
/// in that time leaves the old file, an empty one or (written in place) half of each.
///
/// ```
/// let dir = std::env::temp_dir().join(format!("rustless-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// // In a function: let file = rustless::data_dir()?.join("state.json");
/// let file = dir.join("state.json");
/// rustless::write_durable(&file, br#"{"count":1}"#).unwrap();
/// assert_eq!(std::fs::read(&file).unwrap(), br#"{"count":1}"#);
/// # std::fs::remove_dir_all(&dir).unwrap();
/// ```
pub fn write_durable(path: impl AsRef<Path>, contents: impl AsRef<[u8]>) -> io::Result<()> {
    let path = path.as_ref();
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let tmp = temporary_name(path);
    let written = (|| {
        let mut file = File::create(&tmp)?;
        file.write_all(contents.as_ref())?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(io::Error::new(e.kind(), format!("writing {}: {}", path.display(), e)));
    }
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io::Error::new(e.kind(), format!("syncing the directory of {}: {}", path.display(), e)))
}

/// `.NAME.PID.N.tmp` beside `path`: hidden, and one name per write, so that two threads (or an
/// old runner draining beside a new one) saving the same file at once never write into the same
/// temporary file, where one's bytes would end up under the other's rename.
fn temporary_name(path: &Path) -> PathBuf {
    static WRITES: AtomicU64 = AtomicU64::new(0);
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let n = WRITES.fetch_add(1, Ordering::Relaxed);
    path.with_file_name(format!(".{}.{}.{}.tmp", name, std::process::id(), n))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("rustless-durable-{}-{}", name, std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn replaces_the_content_and_leaves_no_temporary_file() {
        let dir = scratch("replace");
        let file = dir.join("list.json");
        write_durable(&file, b"old").unwrap();
        write_durable(&file, b"new").unwrap();
        assert_eq!(fs::read(&file).unwrap(), b"new");
        let names: Vec<_> = fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("list.json")]);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_failed_write_keeps_the_old_content_and_names_the_file() {
        let dir = scratch("fail");
        let file = dir.join("list.json");
        write_durable(&file, b"old").unwrap();
        // The directory moved aside and a plain file in its place: the temporary file cannot be
        // made, as on a full disk (and as root, where permissions would not stop it).
        let aside = dir.with_extension("aside");
        fs::rename(&dir, &aside).unwrap();
        fs::write(&dir, b"").unwrap();
        let err = write_durable(&file, b"new").unwrap_err();
        assert!(err.to_string().contains("list.json"), "{}", err);
        fs::remove_file(&dir).unwrap();
        fs::rename(&aside, &dir).unwrap();
        assert_eq!(fs::read(&file).unwrap(), b"old");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn threads_saving_the_same_file_at_once_each_leave_it_whole() {
        let dir = scratch("threads");
        let file = dir.join("list.json");
        let writers: Vec<_> = (0..8)
            .map(|t| {
                let file = file.clone();
                std::thread::spawn(move || {
                    for i in 0..25 {
                        write_durable(&file, format!("{{\"writer\":{},\"save\":{}}}", t, i).repeat(200)).unwrap();
                    }
                })
            })
            .collect();
        for writer in writers {
            writer.join().unwrap();
        }
        let last = String::from_utf8(fs::read(&file).unwrap()).unwrap();
        let one = &last[..last.len() / 200];
        assert_eq!(last, one.repeat(200), "the file is one writer's save, whole");
        let names: Vec<_> = fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("list.json")], "no temporary file left");
        fs::remove_dir_all(&dir).unwrap();
    }
}
