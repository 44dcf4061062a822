//! A directory tree as a layer tar: what the BuildKit frontend converts,
//! since BuildKit hands it the built file system, not its layers.
//!
//! The tar is made the same way every time from the same tree: depth
//! first, each directory's names in byte order, numeric owners only, modes with the set-id
//! and sticky bits, times to the nanosecond (PAX `mtime` when not whole
//! seconds), hard links as links to the first path seen, devices and
//! fifos as such. Sockets are left out (a tar cannot hold them), and so
//! are extended attributes (friscy does not read them).

use std::collections::HashMap;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// Why a tree could not be written as a tar.
#[derive(Debug, thiserror::Error)]
pub enum TreeError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: io::Error,
    },
}

fn at(path: &Path) -> impl FnOnce(io::Error) -> TreeError + '_ {
    move |source| TreeError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// What was written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TreeStats {
    pub entries: u64,
    pub file_bytes: u64,
    /// Sockets, which a tar cannot hold.
    pub skipped: u64,
}

/// Writes the tree under `root` (not `root` itself) as an uncompressed tar
/// to `out`.
pub fn tar_tree<W: Write>(root: &Path, out: W) -> Result<TreeStats, TreeError> {
    let mut b = tar::Builder::new(out);
    b.follow_symlinks(false);
    let mut stats = TreeStats::default();
    let mut links = HashMap::new();
    walk(&mut b, root, Path::new(""), &mut links, &mut stats)?;
    b.into_inner()
        .and_then(|mut w| w.flush())
        .map_err(at(root))?;
    Ok(stats)
}

/// The names in `dir`, in byte order.
fn names(dir: &Path) -> Result<Vec<std::ffi::OsString>, TreeError> {
    let mut v = fs::read_dir(dir)
        .map_err(at(dir))?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<io::Result<Vec<_>>>()
        .map_err(at(dir))?;
    v.sort();
    Ok(v)
}

/// One PAX record, `LEN KEY=VALUE\n`, where LEN counts the whole record.
fn pax_record(key: &str, value: &str) -> String {
    let body = key.len() + value.len() + 3; // ' ', '=', '\n'
    let mut len = body + body.to_string().len();
    if len.to_string().len() != body.to_string().len() {
        len += 1;
    }
    format!("{len} {key}={value}\n")
}

/// The major and minor numbers of a Linux `dev_t` (glibc's encoding:
/// major in bits 8-19 and 32-43, minor in bits 0-7 and 12-31).
fn dev_major(rdev: u64) -> u32 {
    (((rdev >> 32) & 0xffff_f000) | ((rdev >> 8) & 0xfff)) as u32
}

fn dev_minor(rdev: u64) -> u32 {
    (((rdev >> 12) & 0xffff_ff00) | (rdev & 0xff)) as u32
}

/// A file's content, failing if it ends before `left` bytes (it shrank
/// while read: the tar would be broken).
struct Exactly<R> {
    inner: R,
    left: u64,
}

impl<R: io::Read> io::Read for Exactly<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        let want = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the file shrank while it was read",
            ));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

fn walk<W: Write>(
    b: &mut tar::Builder<W>,
    dir: &Path,
    prefix: &Path,
    links: &mut HashMap<(u64, u64), PathBuf>,
    stats: &mut TreeStats,
) -> Result<(), TreeError> {
    for name in names(dir)? {
        let path = dir.join(&name);
        let rel = prefix.join(&name);
        let meta = fs::symlink_metadata(&path).map_err(at(&path))?;
        let ft = meta.file_type();
        if ft.is_socket() {
            stats.skipped += 1;
            continue;
        }
        let mut h = tar::Header::new_ustar();
        h.set_mode(meta.mode() & 0o7777);
        h.set_uid(u64::from(meta.uid()));
        h.set_gid(u64::from(meta.gid()));
        h.set_mtime(u64::try_from(meta.mtime()).unwrap_or(0));
        if meta.mtime_nsec() != 0 {
            let t = format!("{}.{:09}", meta.mtime(), meta.mtime_nsec());
            let rec = pax_record("mtime", &t);
            let mut x = tar::Header::new_ustar();
            x.set_entry_type(tar::EntryType::XHeader);
            x.set_size(rec.len() as u64);
            x.set_mode(0o644);
            x.set_path("PaxHeader").map_err(at(&path))?;
            x.set_cksum();
            b.append(&x, rec.as_bytes()).map_err(at(&path))?;
        }
        stats.entries += 1;
        if !ft.is_dir() && meta.nlink() > 1 {
            let key = (meta.dev(), meta.ino());
            if let Some(first) = links.get(&key) {
                h.set_entry_type(tar::EntryType::Link);
                h.set_size(0);
                b.append_link(&mut h, &rel, first).map_err(at(&path))?;
                continue;
            }
            links.insert(key, rel.clone());
        }
        if ft.is_dir() {
            h.set_entry_type(tar::EntryType::Directory);
            h.set_size(0);
            b.append_data(&mut h, &rel, io::empty())
                .map_err(at(&path))?;
            walk(b, &path, &rel, links, stats)?;
        } else if ft.is_symlink() {
            let target = fs::read_link(&path).map_err(at(&path))?;
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_size(0);
            b.append_link(&mut h, &rel, &target).map_err(at(&path))?;
        } else if ft.is_file() {
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(meta.len());
            let f = fs::File::open(&path).map_err(at(&path))?;
            // a file that changes size while read would make a broken tar
            let content = Exactly {
                inner: f,
                left: meta.len(),
            };
            b.append_data(&mut h, &rel, content).map_err(at(&path))?;
            stats.file_bytes += meta.len();
        } else {
            let kind = if ft.is_char_device() {
                tar::EntryType::Char
            } else if ft.is_block_device() {
                tar::EntryType::Block
            } else {
                tar::EntryType::Fifo
            };
            h.set_entry_type(kind);
            h.set_size(0);
            if kind != tar::EntryType::Fifo {
                h.set_device_major(dev_major(meta.rdev()))
                    .map_err(at(&path))?;
                h.set_device_minor(dev_minor(meta.rdev()))
                    .map_err(at(&path))?;
            }
            b.append_data(&mut h, &rel, io::empty())
                .map_err(at(&path))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tree_round_trips_through_a_tar() {
        let dir = std::env::temp_dir().join(format!("friscy-tree-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let root = dir.join("root");
        fs::create_dir_all(root.join("b/deep")).unwrap();
        fs::write(root.join("a.txt"), b"hello").unwrap();
        fs::write(root.join("b/deep/x"), vec![7u8; 3000]).unwrap();
        fs::hard_link(root.join("a.txt"), root.join("b/linked")).unwrap();
        std::os::unix::fs::symlink("../a.txt", root.join("b/sym")).unwrap();
        let long = "n".repeat(150);
        fs::write(root.join(&long), b"long").unwrap();
        let mut tar = Vec::new();
        let stats = tar_tree(&root, &mut tar).unwrap();
        assert_eq!(stats.entries, 7);
        assert_eq!(stats.file_bytes, 5 + 3000 + 4);
        // same tree, same bytes
        let mut again = Vec::new();
        tar_tree(&root, &mut again).unwrap();
        assert_eq!(tar, again);
        let mut seen = Vec::new();
        for e in tar::Archive::new(&tar[..]).entries().unwrap() {
            let e = e.unwrap();
            let path = e.path().unwrap().to_string_lossy().into_owned();
            let link = e
                .link_name()
                .unwrap()
                .map(|l| l.to_string_lossy().into_owned());
            seen.push((path, e.header().entry_type(), link));
        }
        let want = [
            ("a.txt", tar::EntryType::Regular, None),
            ("b", tar::EntryType::Directory, None),
            ("b/deep", tar::EntryType::Directory, None),
            ("b/deep/x", tar::EntryType::Regular, None),
            ("b/linked", tar::EntryType::Link, Some("a.txt")),
            ("b/sym", tar::EntryType::Symlink, Some("../a.txt")),
            (long.as_str(), tar::EntryType::Regular, None),
        ];
        let want: Vec<_> = want
            .iter()
            .map(|(p, t, l)| (p.to_string(), *t, l.map(str::to_string)))
            .collect();
        assert_eq!(seen, want);
        assert_eq!(pax_record("mtime", "1.5"), "13 mtime=1.5\n");
        assert_eq!(
            pax_record("k", &"v".repeat(94)),
            "101 k=".to_string() + &"v".repeat(94) + "\n"
        );
        assert_eq!((dev_major(0x0103), dev_minor(0x0103)), (1, 3));
        // makedev(0x1234, 0x56789)
        assert_eq!(
            (dev_major(0x1000_5672_3489), dev_minor(0x1000_5672_3489)),
            (0x1234, 0x56789)
        );
        // and friscy reads it as a layer
        let mut fs_ = friscy_vfs::Fs::new();
        fs_.apply_layer(&tar[..]).unwrap();
        let _ = fs::remove_dir_all(&dir);
    }
}
