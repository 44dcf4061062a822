//! Path resolution, done iteratively: the components still to walk are kept
//! on an explicit stack, and a followed symlink pushes its target's
//! components onto it. At most [`MAX_SYMLINKS`] symlinks are followed per
//! resolution, so the work is bounded whatever the tree holds.

use crate::errno::{ELOOP, ENAMETOOLONG, ENOENT, ENOTDIR};
use crate::{Body, FileType, Fs, Ino, MAX_SYMLINKS, NAME_MAX, PATH_MAX, ROOT, VResult};

/// Checks the length rules that apply to a whole path.
fn check_path(path: &[u8]) -> VResult<()> {
    if path.is_empty() {
        return Err(ENOENT);
    }
    if path.len() > PATH_MAX {
        return Err(ENAMETOOLONG);
    }
    Ok(())
}

/// Pushes the components of `path` onto `stack` so that the first one is
/// popped first. A trailing slash becomes a final `.` component, which makes
/// the previous component be followed and required to be a directory.
fn push_components(stack: &mut Vec<Vec<u8>>, path: &[u8]) {
    let mut parts: Vec<&[u8]> = path
        .split(|&b| b == b'/')
        .filter(|c| !c.is_empty())
        .collect();
    if path.last() == Some(&b'/') && !parts.is_empty() {
        parts.push(b".");
    }
    stack.extend(parts.into_iter().rev().map(<[u8]>::to_vec));
}

impl Fs {
    /// Looks `name` up in directory `dir`: `.` is `dir`, `..` its parent
    /// (the root's parent is the root). `ENOTDIR` if `dir` is not a
    /// directory, `ENAMETOOLONG` for a name over 255 bytes, `ENOENT` if
    /// there is no such entry.
    pub fn lookup(&self, dir: Ino, name: &[u8]) -> VResult<Ino> {
        let d = self.dir(dir)?;
        match name {
            b"." => Ok(dir),
            b".." => {
                let parent = self.node(dir)?.parent;
                // A removed directory's parent may be gone too.
                match self.node(parent) {
                    Ok(p) if p.kind == FileType::Dir => Ok(parent),
                    _ => Err(ENOENT),
                }
            }
            _ if name.len() > NAME_MAX => Err(ENAMETOOLONG),
            _ => d.get(name).ok_or(ENOENT),
        }
    }

    /// Resolves `path` as Linux does.
    ///
    /// Absolute paths start at [`ROOT`], relative ones at `cwd`; an empty
    /// path gives `ENOENT`. `.`, `..` (the root's `..` is the root) and
    /// repeated slashes work as usual. Symlinks are followed in the middle
    /// of the path always, and as the last component iff `follow`; more
    /// than [`MAX_SYMLINKS`] give `ELOOP`. A non-directory in the middle
    /// gives `ENOTDIR`. A trailing slash requires the result to be a
    /// directory (`ENOTDIR` otherwise) and makes a final symlink be
    /// followed. A component over 255 bytes or a path over 4095 bytes gives
    /// `ENAMETOOLONG`.
    pub fn resolve(&self, cwd: Ino, path: &[u8], follow: bool) -> VResult<Ino> {
        check_path(path)?;
        let start = if path.first() == Some(&b'/') {
            ROOT
        } else {
            self.dir(cwd)?;
            cwd
        };
        let mut stack = Vec::new();
        push_components(&mut stack, path);
        self.walk(start, stack, follow)
    }

    /// Walks the components on `stack` (top first) from directory `cur`.
    fn walk(&self, mut cur: Ino, mut stack: Vec<Vec<u8>>, follow: bool) -> VResult<Ino> {
        let mut links = 0u32;
        while let Some(comp) = stack.pop() {
            let last = stack.is_empty();
            let next = self.lookup(cur, &comp)?;
            let node = self.node(next)?;
            match &node.body {
                Body::Symlink(target) if follow || !last => {
                    links += 1;
                    if links > MAX_SYMLINKS {
                        return Err(ELOOP);
                    }
                    if target.is_empty() {
                        return Err(ENOENT);
                    }
                    if target.len() > PATH_MAX {
                        return Err(ENAMETOOLONG);
                    }
                    if target.first() == Some(&b'/') {
                        cur = ROOT;
                    }
                    push_components(&mut stack, target);
                }
                _ if last => return Ok(next),
                Body::Dir(_) => cur = next,
                _ => return Err(ENOTDIR),
            }
        }
        Ok(cur)
    }

    /// For calls that create or remove a name: resolves all but the last
    /// component of `path` (following symlinks) and returns
    /// `(parent directory, last name, had trailing slash)`.
    ///
    /// A last component `.` or `..` is returned as-is, and the path `/`
    /// gives `(ROOT, ".", false)`: the caller decides what error that is.
    /// Errors are those of [`Fs::resolve`]; a parent that is not a
    /// directory gives `ENOTDIR`.
    pub fn resolve_parent(&self, cwd: Ino, path: &[u8]) -> VResult<(Ino, Vec<u8>, bool)> {
        check_path(path)?;
        let trimmed_len = path.iter().rposition(|&b| b != b'/').map_or(0, |i| i + 1);
        if trimmed_len == 0 {
            return Ok((ROOT, b".".to_vec(), false));
        }
        let trailing = trimmed_len < path.len();
        let trimmed = &path[..trimmed_len];
        let (dir, name) = match trimmed.iter().rposition(|&b| b == b'/') {
            Some(slash) => {
                let dir_part = &trimmed[..slash];
                let dir = if dir_part.iter().all(|&b| b == b'/') {
                    ROOT
                } else {
                    self.resolve(cwd, dir_part, true)?
                };
                (dir, &trimmed[slash + 1..])
            }
            None => (cwd, trimmed),
        };
        self.dir(dir)?;
        if name.len() > NAME_MAX {
            return Err(ENAMETOOLONG);
        }
        Ok((dir, name.to_vec(), trailing))
    }

    /// A path naming `ino`, for `getcwd` and `/proc/self/fd`: found by
    /// walking parent directories up to the root. For a non-directory, the
    /// directory it was last linked into must still hold it. `None` if the
    /// inode is gone or unlinked.
    pub fn path_of(&self, ino: Ino) -> Option<Vec<u8>> {
        let mut names: Vec<&[u8]> = Vec::new();
        let mut cur = ino;
        // Each step goes one directory up; a tree is never deeper than the
        // number of inodes, so this bound is only a guard.
        for _ in 0..=self.nodes.len() {
            if cur == ROOT {
                let mut out = Vec::new();
                for name in names.iter().rev() {
                    out.push(b'/');
                    out.extend_from_slice(name);
                }
                if out.is_empty() {
                    out.push(b'/');
                }
                return Some(out);
            }
            let node = self.node(cur).ok()?;
            if node.nlink == 0 {
                return None;
            }
            let parent = self.dir(node.parent).ok()?;
            let name = parent
                .names
                .iter()
                .find(|(_, slot)| slot.ino == cur)
                .map(|(name, _)| name.as_slice())?;
            names.push(name);
            cur = node.parent;
        }
        None
    }
}
