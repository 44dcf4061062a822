//! Importing a host directory tree as the image (`dir:ROOTFS`).
//!
//! Metadata is read now; the bytes of regular files are read from the host
//! path on first use ([`Content`]). The host tree is never modified.

use std::collections::{HashMap, HashSet};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use crate::layer::{Apply, LayerError, LayerStats, Meta, What};
use crate::{Content, FileType, Fs, Ino, NewNode, ROOT, Timespec};

/// A regular file of the host tree, read when first needed.
struct HostFile {
    path: PathBuf,
    size: u64,
}

impl Content for HostFile {
    fn size(&self) -> u64 {
        self.size
    }

    fn load(&self) -> io::Result<Vec<u8>> {
        std::fs::read(&self.path)
    }
}

fn meta_of(md: &std::fs::Metadata) -> Meta {
    Meta {
        perm: md.mode() & 0o7777,
        uid: md.uid(),
        gid: md.gid(),
        mtime: Timespec {
            sec: md.mtime(),
            nsec: u32::try_from(md.mtime_nsec()).unwrap_or(0).min(999_999_999),
        },
    }
}

fn host_err(path: &Path) -> impl FnOnce(io::Error) -> LayerError + '_ {
    move |source| LayerError::Host {
        path: path.to_path_buf(),
        source,
    }
}

impl Fs {
    /// Imports the host directory tree at `root` on top of what is there,
    /// as if it were one image layer without whiteouts.
    ///
    /// Mode, owner, group, mtime, symlink targets, device numbers, fifos
    /// and sockets are read now, and hard links are recognised by their
    /// host (device, inode) pair. Regular files are read lazily from the
    /// host path on first use (a failure then gives `EIO`). Directories
    /// already visited (a bind mount of an ancestor) are skipped.
    pub fn import_host_dir(&mut self, root: &Path) -> Result<LayerStats, LayerError> {
        let md = std::fs::metadata(root).map_err(host_err(root))?;
        if !md.is_dir() {
            return Err(LayerError::Host {
                path: root.to_path_buf(),
                source: io::Error::new(io::ErrorKind::NotADirectory, "not a directory"),
            });
        }
        let mut stats = LayerStats::default();
        let mut st = Apply::default();
        self.set_meta(ROOT, meta_of(&md));
        st.dir_times.push((ROOT, meta_of(&md).mtime));
        let mut seen_dirs: HashSet<(u64, u64)> = HashSet::new();
        seen_dirs.insert((md.dev(), md.ino()));
        let mut links: HashMap<(u64, u64), Ino> = HashMap::new();
        let mut work: Vec<(PathBuf, Ino)> = vec![(root.to_path_buf(), ROOT)];

        while let Some((hdir, dir)) = work.pop() {
            let mut entries = Vec::new();
            for entry in std::fs::read_dir(&hdir).map_err(host_err(&hdir))? {
                entries.push(entry.map_err(host_err(&hdir))?);
            }
            entries.sort_by_key(|e| e.file_name());
            for entry in entries {
                stats.entries += 1;
                let path = entry.path();
                let file_name = entry.file_name();
                let name = file_name.as_bytes();
                let md = std::fs::symlink_metadata(&path).map_err(host_err(&path))?;
                let meta = meta_of(&md);
                let shown = path.display().to_string();
                let ft = md.file_type();
                let fs_err = |errno| LayerError::Fs {
                    path: shown.clone(),
                    errno,
                };

                if ft.is_dir() {
                    if !seen_dirs.insert((md.dev(), md.ino())) {
                        continue;
                    }
                    self.place(&mut st, dir, name, What::Dir, meta, &shown)?;
                    let ino = self.lookup(dir, name).map_err(fs_err)?;
                    work.push((path, ino));
                    continue;
                }

                let key = (md.dev(), md.ino());
                if md.nlink() > 1
                    && let Some(&target) = links.get(&key)
                    && self.kind(target).is_ok_and(|k| k != FileType::Dir)
                {
                    if self.dir(dir).map_err(fs_err)?.get(name) != Some(target) {
                        self.remove_entry(dir, name);
                        self.link(dir, name, target).map_err(fs_err)?;
                    }
                    continue;
                }

                let ino = if ft.is_file() {
                    let size = md.len();
                    stats.bytes = stats.bytes.saturating_add(size);
                    let content: Rc<dyn Content> = Rc::new(HostFile { path, size });
                    self.remove_entry(dir, name);
                    let ino = self
                        .create_lazy(
                            dir, name, content, meta.perm, meta.uid, meta.gid, meta.mtime,
                        )
                        .map_err(fs_err)?;
                    self.set_meta(ino, meta);
                    ino
                } else {
                    let what = if ft.is_symlink() {
                        let target = std::fs::read_link(&path).map_err(host_err(&path))?;
                        What::Symlink(target.as_os_str().as_bytes().to_vec())
                    } else if ft.is_char_device() {
                        What::Node(NewNode::Chr(md.rdev()))
                    } else if ft.is_block_device() {
                        What::Node(NewNode::Blk(md.rdev()))
                    } else if ft.is_fifo() {
                        What::Node(NewNode::Fifo)
                    } else if ft.is_socket() {
                        What::Node(NewNode::Sock)
                    } else {
                        continue;
                    };
                    self.place(&mut st, dir, name, what, meta, &shown)?;
                    self.lookup(dir, name).map_err(fs_err)?
                };
                if md.nlink() > 1 {
                    links.insert(key, ino);
                }
            }
        }
        self.finish(&st);
        Ok(stats)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::errno::EIO;
    use std::os::unix::fs::{PermissionsExt, symlink};

    fn scratch(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("friscy-vfs-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch dir");
        dir
    }

    #[test]
    fn imports_tree_lazily_with_links() {
        let host = scratch("import");
        std::fs::create_dir(host.join("etc")).unwrap();
        std::fs::write(host.join("etc/hostname"), b"friscy\n").unwrap();
        std::fs::set_permissions(
            host.join("etc/hostname"),
            std::fs::Permissions::from_mode(0o4751),
        )
        .unwrap();
        std::fs::hard_link(host.join("etc/hostname"), host.join("hn")).unwrap();
        symlink("etc/hostname", host.join("link")).unwrap();

        let mut fs = Fs::new();
        let stats = fs.import_host_dir(&host).unwrap();
        assert_eq!(stats.entries, 4);
        assert_eq!(stats.bytes, 7);

        let f = fs.resolve(ROOT, b"/etc/hostname", true).unwrap();
        let st = fs.stat(f).unwrap();
        assert_eq!(st.size, 7);
        assert_eq!(st.mode, 0o104751);
        assert_eq!(st.nlink, 2);
        assert_eq!(fs.resolve(ROOT, b"/hn", true), Ok(f));
        assert_eq!(fs.resolve(ROOT, b"/link", true), Ok(f));
        assert_eq!(
            fs.readlink(fs.resolve(ROOT, b"/link", false).unwrap())
                .unwrap(),
            b"etc/hostname"
        );

        // Changing the host file before the first read shows the new bytes:
        // the content really is loaded lazily. Writes stay in memory.
        std::fs::write(host.join("etc/hostname"), b"lazy!!\n").unwrap();
        let mut buf = [0u8; 16];
        assert_eq!(fs.read(f, 0, &mut buf), Ok(7));
        assert_eq!(&buf[..7], b"lazy!!\n");
        assert_eq!(fs.write(f, 0, b"L"), Ok(1));
        assert_eq!(
            std::fs::read(host.join("etc/hostname")).unwrap(),
            b"lazy!!\n"
        );

        // A file that vanished from the host gives EIO on first read.
        std::fs::write(host.join("gone"), b"x").unwrap();
        let mut fs2 = Fs::new();
        fs2.import_host_dir(&host).unwrap();
        std::fs::remove_file(host.join("gone")).unwrap();
        let g = fs2.resolve(ROOT, b"/gone", true).unwrap();
        assert_eq!(fs2.read(g, 0, &mut buf), Err(EIO));

        std::fs::remove_dir_all(&host).unwrap();
    }

    #[test]
    fn missing_root_is_an_error() {
        let mut fs = Fs::new();
        let err = fs.import_host_dir(Path::new("/nonexistent/friscy/rootfs"));
        assert!(matches!(err, Err(LayerError::Host { .. })));
    }
}
