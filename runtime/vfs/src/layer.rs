//! Applying OCI image layers (uncompressed tar streams) to the tree.
//!
//! A layer is applied in two passes. The first reads the whole tar: it
//! parses every header, reads file contents, normalises paths and rejects
//! hostile or broken input — so a truncated tar or a `../` escape changes
//! nothing. The second applies the entries in order with OCI semantics:
//!
//! * an entry replaces whatever was at its path, except that a directory
//!   entry onto a directory only updates its metadata;
//! * missing parent directories are created (0o755, root-owned), and
//!   symlinks in the parent path are followed, confined to the tree;
//! * `.wh.NAME` deletes `NAME` from the lower layers, `.wh..wh..opq` deletes
//!   everything the lower layers put in its directory. Entries of the layer
//!   itself survive both, wherever they come in the tar: the names this
//!   layer added are tracked as `(directory ino, name)` pairs.
//!
//! An entry that cannot be applied in the second pass (say a hard link to
//! a missing file) stops the import part-way; the caller should then drop
//! the whole [`Fs`].

use std::collections::HashSet;
use std::io::{self, Read};

use crate::data::Chunks;
use crate::errno::ENOENT;
use crate::{FileType, Fs, Ino, MAX_FILE_SIZE, NewNode, ROOT, Timespec, makedev};

/// What importing a layer or a directory did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LayerStats {
    /// Entries read (tar members, or host directory entries).
    pub entries: u64,
    /// Bytes of regular-file content read (for host imports: the sizes of
    /// the files, which are read later).
    pub bytes: u64,
}

/// Why an image layer could not be imported.
#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    /// Reading the stream failed, or the tar structure is broken (a bad
    /// checksum, a header cut short, a size field larger than the data).
    #[error("reading the layer: {0}")]
    Io(#[from] io::Error),
    /// An entry tries to do something a layer must not do.
    #[error("hostile layer entry {path:?}: {why}")]
    Hostile {
        /// The entry's path as stored in the tar (lossily decoded).
        path: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// A header field of an entry cannot be parsed or is out of range.
    #[error("malformed layer entry {path:?}: {why}")]
    Malformed {
        /// The entry's path as stored in the tar (lossily decoded).
        path: String,
        /// What is wrong with it.
        why: String,
    },
    /// The tar ends inside an entry's data.
    #[error("layer entry {path:?} is truncated")]
    Truncated {
        /// The entry's path as stored in the tar (lossily decoded).
        path: String,
    },
    /// The file system refused the change an entry asks for.
    #[error("cannot apply layer entry {path:?}: errno {errno}")]
    Fs {
        /// The entry's path (lossily decoded).
        path: String,
        /// The positive Linux errno.
        errno: i64,
    },
    /// Reading a host directory or file failed.
    #[error("reading {path:?}: {source}")]
    Host {
        /// The host path.
        path: std::path::PathBuf,
        /// The underlying error.
        source: io::Error,
    },
}

/// Metadata of a new node.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Meta {
    pub(crate) perm: u32,
    pub(crate) uid: u32,
    pub(crate) gid: u32,
    pub(crate) mtime: Timespec,
}

/// What one entry asks for.
pub(crate) enum What {
    File(Chunks),
    /// A regular file whose bytes are loaded on first use.
    Lazy(std::rc::Rc<dyn crate::Content>),
    Dir,
    Symlink(Vec<u8>),
    /// A hard link to this path (normalised components).
    Link(Vec<Vec<u8>>),
    Node(NewNode),
    /// `.wh.NAME`: delete NAME.
    Whiteout(Vec<u8>),
    /// `.wh..wh..opq`: hide the lower layers' entries of the directory.
    Opaque,
}

pub(crate) struct Item {
    pub(crate) shown: String,
    pub(crate) comps: Vec<Vec<u8>>,
    pub(crate) what: What,
    pub(crate) meta: Meta,
}

pub(crate) const WHITEOUT: &[u8] = b".wh.";
pub(crate) const OPAQUE: &[u8] = b".wh..wh..opq";

/// Splits a tar path into components relative to the root: leading `/`
/// and `.` components go, `..` removes the previous component. `None` if a
/// `..` would climb above the root.
pub(crate) fn normalize(path: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    for comp in path.split(|&b| b == b'/') {
        match comp {
            b"" | b"." => {}
            b".." => {
                out.pop()?;
            }
            _ => out.push(comp.to_vec()),
        }
    }
    Some(out)
}

/// Parses a PAX time (`SECONDS[.FRACTION]`, maybe negative).
fn parse_pax_time(s: &str) -> Option<Timespec> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let sec: i64 = int.parse().ok()?;
    let mut nsec: u32 = 0;
    let mut digits = 0;
    for b in frac.bytes().take(9) {
        nsec = nsec * 10 + u32::from(b - b'0');
        digits += 1;
    }
    for _ in digits..9 {
        nsec *= 10;
    }
    if !neg {
        return Some(Timespec { sec, nsec });
    }
    if nsec == 0 {
        return Some(Timespec { sec: -sec, nsec: 0 });
    }
    Some(Timespec {
        sec: (-sec).checked_sub(1)?,
        nsec: 1_000_000_000 - nsec,
    })
}

pub(crate) fn malformed(shown: &str, e: impl std::fmt::Display) -> LayerError {
    LayerError::Malformed {
        path: shown.to_owned(),
        why: e.to_string(),
    }
}

pub(crate) fn hostile(shown: &str, why: &'static str) -> LayerError {
    LayerError::Hostile {
        path: shown.to_owned(),
        why,
    }
}

/// Reads one tar entry into an [`Item`]; `None` for entry types that are
/// skipped. With `load` false a regular file's bytes are left in the entry
/// for the caller (the item holds an empty file).
pub(crate) fn read_item<R: Read>(
    entry: &mut tar::Entry<'_, R>,
    stats: &mut LayerStats,
    load: bool,
) -> Result<Option<Item>, LayerError> {
    use tar::EntryType as T;
    let raw_path = entry.path_bytes().into_owned();
    let shown = String::from_utf8_lossy(&raw_path).into_owned();
    let comps = normalize(&raw_path).ok_or_else(|| hostile(&shown, "path escapes the root"))?;
    let kind = entry.header().entry_type();

    let mut pax_mtime = None;
    if let Some(exts) = entry.pax_extensions().map_err(|e| malformed(&shown, e))? {
        for ext in exts {
            let ext = ext.map_err(|e| malformed(&shown, e))?;
            if ext.key() == Ok("mtime") {
                pax_mtime = ext.value().ok().and_then(parse_pax_time);
            }
        }
    }
    let header = entry.header();
    let mode = header.mode().map_err(|e| malformed(&shown, e))?;
    let uid = header.uid().map_err(|e| malformed(&shown, e))?;
    let gid = header.gid().map_err(|e| malformed(&shown, e))?;
    let uid = u32::try_from(uid).map_err(|_| malformed(&shown, "uid out of range"))?;
    let gid = u32::try_from(gid).map_err(|_| malformed(&shown, "gid out of range"))?;
    let mtime = match pax_mtime {
        Some(t) => t,
        None => {
            let secs = header.mtime().map_err(|e| malformed(&shown, e))?;
            Timespec {
                sec: i64::try_from(secs).unwrap_or(i64::MAX),
                nsec: 0,
            }
        }
    };
    let meta = Meta {
        perm: mode & 0o7777,
        uid,
        gid,
        mtime,
    };

    let base = comps.last().map(Vec::as_slice).unwrap_or_default();
    if base == OPAQUE {
        return Ok(Some(Item {
            shown,
            comps,
            what: What::Opaque,
            meta,
        }));
    }
    if let Some(name) = base.strip_prefix(WHITEOUT) {
        // Other `.wh..wh.` names are AUFS bookkeeping: skip them.
        if name.starts_with(WHITEOUT) {
            return Ok(None);
        }
        let name = name.to_vec();
        return Ok(Some(Item {
            shown,
            comps,
            what: What::Whiteout(name),
            meta,
        }));
    }

    let device = |h: &tar::Header| -> Result<u64, LayerError> {
        let major = h.device_major().map_err(|e| malformed(&shown, e))?;
        let minor = h.device_minor().map_err(|e| malformed(&shown, e))?;
        Ok(makedev(major.unwrap_or(0), minor.unwrap_or(0)))
    };
    let what = match kind {
        T::Regular | T::Continuous | T::GNUSparse => {
            let size = entry.size();
            if size > MAX_FILE_SIZE {
                return Err(hostile(&shown, "file larger than 1 TiB"));
            }
            if !load {
                stats.bytes = stats.bytes.saturating_add(size);
                return Ok(Some(Item {
                    shown,
                    comps,
                    what: What::File(Chunks::default()),
                    meta,
                }));
            }
            let data = Chunks::from_reader(&mut *entry, MAX_FILE_SIZE)?;
            if data.size() != size {
                return Err(LayerError::Truncated { path: shown });
            }
            stats.bytes = stats.bytes.saturating_add(size);
            What::File(data)
        }
        T::Directory => What::Dir,
        T::Symlink => {
            let target = entry
                .link_name_bytes()
                .map(|t| t.into_owned())
                .unwrap_or_default();
            if target.is_empty() {
                return Err(hostile(&shown, "symlink without a target"));
            }
            What::Symlink(target)
        }
        T::Link => {
            let target = entry
                .link_name_bytes()
                .map(|t| t.into_owned())
                .unwrap_or_default();
            let tcomps = normalize(&target)
                .ok_or_else(|| hostile(&shown, "link target escapes the root"))?;
            if tcomps.is_empty() {
                return Err(hostile(&shown, "hard link to the root"));
            }
            What::Link(tcomps)
        }
        T::Char => What::Node(NewNode::Chr(device(entry.header())?)),
        T::Block => What::Node(NewNode::Blk(device(entry.header())?)),
        T::Fifo => What::Node(NewNode::Fifo),
        _ => return Ok(None),
    };
    Ok(Some(Item {
        shown,
        comps,
        what,
        meta,
    }))
}

/// State of one layer application.
#[derive(Default)]
pub(crate) struct Apply {
    /// `(directory, name)` of every entry this layer made.
    added: HashSet<(Ino, Vec<u8>)>,
    /// Directory mtimes to set at the end (adding children changes them).
    pub(crate) dir_times: Vec<(Ino, Timespec)>,
}

impl Fs {
    /// Imports one image layer (an uncompressed tar stream) on top of what
    /// is there, with OCI layer semantics (see the module documentation of
    /// `layer.rs`): whiteouts, opaque directories, hard links, long names.
    ///
    /// A path with a `..` that would climb above the root, a truncated tar,
    /// or an unparseable header is rejected before anything changes.
    pub fn apply_layer<R: Read>(&mut self, tar: R) -> Result<LayerStats, LayerError> {
        let mut stats = LayerStats::default();
        let mut archive = tar::Archive::new(tar);
        let mut items = Vec::new();
        for entry in archive.entries()? {
            let mut entry = entry?;
            stats.entries = stats.entries.saturating_add(1);
            if let Some(item) = read_item(&mut entry, &mut stats, true)? {
                items.push(item);
            }
        }
        let mut st = Apply::default();
        for item in items {
            self.apply_item(&mut st, item)?;
        }
        self.finish(&st);
        Ok(stats)
    }

    /// Sets the recorded directory mtimes.
    pub(crate) fn finish(&mut self, st: &Apply) {
        for &(ino, mtime) in &st.dir_times {
            if let Ok(n) = self.node_mut(ino)
                && n.kind == FileType::Dir
            {
                n.mtime = mtime;
            }
        }
    }

    pub(crate) fn apply_item(&mut self, st: &mut Apply, item: Item) -> Result<(), LayerError> {
        let Item {
            shown,
            mut comps,
            what,
            meta,
        } = item;
        let fs_err = |errno| LayerError::Fs {
            path: shown.clone(),
            errno,
        };
        let Some(name) = comps.pop() else {
            // The root itself: only a directory entry means something.
            if let What::Dir = what {
                self.set_meta(ROOT, meta);
                st.dir_times.push((ROOT, meta.mtime));
            }
            return Ok(());
        };
        match what {
            What::Whiteout(target) => {
                if let Some(dir) = self.find_dir(&comps) {
                    self.whiteout(st, dir, &target);
                }
                Ok(())
            }
            What::Opaque => {
                let dir = self.ensure_dir(st, &comps).map_err(fs_err)?;
                self.prune_lower(st, dir);
                Ok(())
            }
            what => {
                let dir = self.ensure_dir(st, &comps).map_err(fs_err)?;
                self.place(st, dir, &name, what, meta, &shown)
            }
        }
    }

    pub(crate) fn set_meta(&mut self, ino: Ino, meta: Meta) {
        if let Ok(n) = self.node_mut(ino) {
            if n.kind != FileType::Symlink {
                n.perm = meta.perm;
            }
            n.uid = meta.uid;
            n.gid = meta.gid;
            n.atime = meta.mtime;
            n.mtime = meta.mtime;
            n.ctime = meta.mtime;
        }
    }

    /// Steps from directory `cur` into its entry `name`, following a
    /// symlink there (confined to the tree). `Ok(None)` if there is no such
    /// entry.
    fn step(&self, cur: Ino, name: &[u8]) -> Result<Option<Ino>, i64> {
        match self.lookup(cur, name) {
            Ok(ino) => {
                let ino = if self.kind(ino)? == FileType::Symlink {
                    self.resolve(cur, name, true)?
                } else {
                    ino
                };
                self.dir(ino)?;
                Ok(Some(ino))
            }
            Err(ENOENT) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The directory at `comps` if it exists.
    fn find_dir(&self, comps: &[Vec<u8>]) -> Option<Ino> {
        let mut cur = ROOT;
        for c in comps {
            cur = self.step(cur, c).ok()??;
        }
        Some(cur)
    }

    /// The directory at `comps`, creating missing ones (0o755, root-owned).
    /// Every directory on the way counts as part of this layer: an entry
    /// `a/b/c` implies `a` and `a/b`, so whiteouts and opaque markers of the
    /// same layer do not remove them.
    fn ensure_dir(&mut self, st: &mut Apply, comps: &[Vec<u8>]) -> Result<Ino, i64> {
        let mut cur = ROOT;
        for c in comps {
            let next = match self.step(cur, c)? {
                Some(ino) => ino,
                None => self.create(cur, c, NewNode::Dir, 0o755, 0, 0)?,
            };
            st.added.insert((cur, c.clone()));
            cur = next;
        }
        Ok(cur)
    }

    /// Removes the entry `name` of `dir` and everything under it.
    pub(crate) fn remove_entry(&mut self, dir: Ino, name: &[u8]) {
        let Ok(d) = self.dir_mut(dir) else {
            return;
        };
        let Some(ino) = d.remove(name) else {
            return;
        };
        if self.kind(ino) == Ok(FileType::Dir)
            && let Ok(p) = self.node_mut(dir)
        {
            p.nlink = p.nlink.saturating_sub(1);
        }
        self.drop_tree(ino);
    }

    /// `.wh.NAME` in `dir`.
    fn whiteout(&mut self, st: &Apply, dir: Ino, name: &[u8]) {
        if name.is_empty() || name == b"." || name == b".." {
            return;
        }
        let Ok(d) = self.dir(dir) else {
            return;
        };
        let Some(ino) = d.get(name) else {
            return;
        };
        if st.added.contains(&(dir, name.to_vec())) {
            // This layer's own entry stays; only what lower layers put
            // inside it goes.
            if self.kind(ino) == Ok(FileType::Dir) {
                self.prune_lower(st, ino);
            }
        } else {
            self.remove_entry(dir, name);
        }
    }

    /// Removes everything under `top` that this layer did not add.
    fn prune_lower(&mut self, st: &Apply, top: Ino) {
        let mut work = vec![top];
        while let Some(dir) = work.pop() {
            let Ok(d) = self.dir(dir) else {
                continue;
            };
            let children: Vec<(Vec<u8>, Ino)> =
                d.names.iter().map(|(n, s)| (n.clone(), s.ino)).collect();
            for (name, ino) in children {
                if st.added.contains(&(dir, name.clone())) {
                    if self.kind(ino) == Ok(FileType::Dir) {
                        work.push(ino);
                    }
                } else {
                    self.remove_entry(dir, &name);
                }
            }
        }
    }

    /// Puts a node at `name` in `dir`, replacing what is there.
    pub(crate) fn place(
        &mut self,
        st: &mut Apply,
        dir: Ino,
        name: &[u8],
        what: What,
        meta: Meta,
        shown: &str,
    ) -> Result<(), LayerError> {
        let fs_err = |errno| LayerError::Fs {
            path: shown.to_owned(),
            errno,
        };
        let existing = self.dir(dir).map_err(fs_err)?.get(name);
        let existing_kind = existing.and_then(|i| self.kind(i).ok());
        let key = (dir, name.to_vec());

        if let What::Dir = what
            && let (Some(ino), Some(FileType::Dir)) = (existing, existing_kind)
        {
            self.set_meta(ino, meta);
            st.dir_times.push((ino, meta.mtime));
            st.added.insert(key);
            return Ok(());
        }
        let what = match what {
            What::Link(target) => return self.place_link(st, dir, name, &target, shown),
            other => other,
        };

        if existing.is_some() {
            self.remove_entry(dir, name);
        }
        let ino = match what {
            What::File(data) => self
                .create_with_data(dir, name, data, meta.perm, meta.uid, meta.gid, meta.mtime)
                .map_err(fs_err)?,
            What::Lazy(content) => self
                .create_lazy(
                    dir, name, content, meta.perm, meta.uid, meta.gid, meta.mtime,
                )
                .map_err(fs_err)?,
            What::Dir => {
                let ino = self
                    .create(dir, name, NewNode::Dir, meta.perm, meta.uid, meta.gid)
                    .map_err(fs_err)?;
                st.dir_times.push((ino, meta.mtime));
                ino
            }
            What::Symlink(target) => self
                .create(
                    dir,
                    name,
                    NewNode::Symlink(target),
                    0o777,
                    meta.uid,
                    meta.gid,
                )
                .map_err(fs_err)?,
            What::Node(node) => self
                .create(dir, name, node, meta.perm, meta.uid, meta.gid)
                .map_err(fs_err)?,
            What::Link(_) | What::Whiteout(_) | What::Opaque => return Ok(()),
        };
        self.set_meta(ino, meta);
        st.added.insert(key);
        Ok(())
    }

    /// A hard link entry: `name` in `dir` becomes another link to the inode
    /// at `target`, which must exist and not be a directory.
    fn place_link(
        &mut self,
        st: &mut Apply,
        dir: Ino,
        name: &[u8],
        target: &[Vec<u8>],
        shown: &str,
    ) -> Result<(), LayerError> {
        let fs_err = |errno| LayerError::Fs {
            path: shown.to_owned(),
            errno,
        };
        let (tname, tdir) = target
            .split_last()
            .ok_or_else(|| hostile(shown, "hard link to the root"))?;
        let tino = self
            .find_dir(tdir)
            .and_then(|d| self.lookup(d, tname).ok())
            .ok_or_else(|| hostile(shown, "hard link target missing"))?;
        if self.kind(tino) == Ok(FileType::Dir) {
            return Err(hostile(shown, "hard link to a directory"));
        }
        let existing = self.dir(dir).map_err(fs_err)?.get(name);
        if existing != Some(tino) {
            if existing.is_some() {
                // Keep the target alive even if it only lived under the
                // entry being replaced (it then has no links and the link
                // fails, but its slot is not reused meanwhile).
                self.hold(tino);
                self.remove_entry(dir, name);
                let linked = self.link(dir, name, tino);
                self.release(tino);
                linked.map_err(fs_err)?;
            } else {
                self.link(dir, name, tino).map_err(fs_err)?;
            }
        }
        st.added.insert((dir, name.to_vec()));
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests;
