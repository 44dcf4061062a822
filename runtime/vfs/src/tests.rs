use super::*;
use std::cell::Cell;

fn mkdir(fs: &mut Fs, dir: Ino, name: &str) -> Ino {
    fs.create(dir, name.as_bytes(), NewNode::Dir, 0o755, 0, 0)
        .expect("mkdir")
}

fn mkfile(fs: &mut Fs, dir: Ino, name: &str, data: &[u8]) -> Ino {
    let ino = fs
        .create(dir, name.as_bytes(), NewNode::Reg, 0o644, 0, 0)
        .expect("create");
    assert_eq!(fs.write(ino, 0, data), Ok(data.len()));
    ino
}

fn symlink(fs: &mut Fs, dir: Ino, name: &str, target: &str) -> Ino {
    fs.create(
        dir,
        name.as_bytes(),
        NewNode::Symlink(target.as_bytes().to_vec()),
        0,
        0,
        0,
    )
    .expect("symlink")
}

fn names(fs: &Fs, dir: Ino) -> Vec<String> {
    fs.readdir(dir, 0)
        .unwrap()
        .into_iter()
        .map(|e| String::from_utf8(e.name).unwrap())
        .collect()
}

fn read_all(fs: &mut Fs, ino: Ino) -> Vec<u8> {
    let size = fs.stat(ino).unwrap().size as usize;
    let mut buf = vec![0u8; size + 8];
    let n = fs.read(ino, 0, &mut buf).unwrap();
    buf.truncate(n);
    buf
}

#[test]
fn new_fs_has_root() {
    let fs = Fs::new();
    let st = fs.stat(ROOT).unwrap();
    assert_eq!(st.kind, FileType::Dir);
    assert_eq!(st.mode, 0o040755);
    assert_eq!(st.nlink, 2);
    assert_eq!((st.uid, st.gid), (0, 0));
    assert_eq!(fs.resolve(ROOT, b"/", true), Ok(ROOT));
    assert_eq!(fs.resolve(ROOT, b"/..", true), Ok(ROOT));
    assert_eq!(fs.path_of(ROOT), Some(b"/".to_vec()));
}

#[test]
fn bad_inos_are_errors() {
    let mut fs = Fs::new();
    for ino in [0, 2, 999, u32::MAX] {
        assert_eq!(fs.stat(ino), Err(ENOENT));
        assert_eq!(fs.kind(ino), Err(ENOENT));
        assert_eq!(fs.lookup(ino, b"x"), Err(ENOENT));
        assert_eq!(fs.resolve(ino, b"x", true), Err(ENOENT));
        assert_eq!(fs.read(ino, 0, &mut [0; 4]), Err(ENOENT));
        assert_eq!(fs.write(ino, 0, b"x"), Err(ENOENT));
        assert_eq!(fs.truncate(ino, 0), Err(ENOENT));
        assert_eq!(fs.create(ino, b"x", NewNode::Reg, 0, 0, 0), Err(ENOENT));
        assert_eq!(fs.link(ROOT, b"x", ino), Err(ENOENT));
        assert_eq!(fs.readdir(ino, 0), Err(ENOENT));
        assert_eq!(fs.set_mode(ino, 0), Err(ENOENT));
        assert_eq!(fs.path_of(ino), None);
        fs.hold(ino);
        fs.release(ino);
    }
    // A freed ino behaves the same.
    let f = mkfile(&mut fs, ROOT, "f", b"x");
    fs.unlink(ROOT, b"f").unwrap();
    assert_eq!(fs.stat(f), Err(ENOENT));
}

#[test]
fn resolve_basics() {
    let mut fs = Fs::new();
    let a = mkdir(&mut fs, ROOT, "a");
    let b = mkdir(&mut fs, a, "b");
    let f = mkfile(&mut fs, b, "f", b"hi");
    assert_eq!(fs.resolve(ROOT, b"/a/b/f", true), Ok(f));
    assert_eq!(fs.resolve(ROOT, b"//a///b//f", true), Ok(f));
    assert_eq!(fs.resolve(a, b"b/f", true), Ok(f));
    assert_eq!(fs.resolve(b, b"./f", true), Ok(f));
    assert_eq!(fs.resolve(b, b"../b/./f", true), Ok(f));
    assert_eq!(fs.resolve(b, b"..", true), Ok(a));
    assert_eq!(fs.resolve(b, b"../../../..", true), Ok(ROOT));
    assert_eq!(fs.resolve(b, b".", true), Ok(b));
    assert_eq!(fs.resolve(ROOT, b"", true), Err(ENOENT));
    assert_eq!(fs.resolve(ROOT, b"/a/nope", true), Err(ENOENT));
    assert_eq!(fs.resolve(ROOT, b"/a/nope/x", true), Err(ENOENT));
    // A file in the middle of a path.
    assert_eq!(fs.resolve(ROOT, b"/a/b/f/x", true), Err(ENOTDIR));
    assert_eq!(fs.resolve(ROOT, b"/a/b/f/..", true), Err(ENOTDIR));
    // A relative path from a cwd that is not a directory.
    assert_eq!(fs.resolve(f, b"x", true), Err(ENOTDIR));
    // Trailing slashes.
    assert_eq!(fs.resolve(ROOT, b"/a/b/", true), Ok(b));
    assert_eq!(fs.resolve(ROOT, b"/a/b//", false), Ok(b));
    assert_eq!(fs.resolve(ROOT, b"/a/b/f/", true), Err(ENOTDIR));
    assert_eq!(fs.lookup(f, b"x"), Err(ENOTDIR));
}

#[test]
fn resolve_length_limits() {
    let mut fs = Fs::new();
    let long = vec![b'x'; 256];
    assert_eq!(fs.resolve(ROOT, &long, true), Err(ENAMETOOLONG));
    assert_eq!(
        fs.create(ROOT, &long, NewNode::Reg, 0o644, 0, 0),
        Err(ENAMETOOLONG)
    );
    let ok = vec![b'y'; 255];
    let f = fs.create(ROOT, &ok, NewNode::Reg, 0o644, 0, 0).unwrap();
    assert_eq!(fs.resolve(ROOT, &ok, true), Ok(f));
    let mut path = Vec::new();
    while path.len() <= PATH_MAX {
        path.extend_from_slice(b"./");
    }
    assert_eq!(fs.resolve(ROOT, &path, true), Err(ENAMETOOLONG));
    path.truncate(PATH_MAX);
    assert_eq!(fs.resolve(ROOT, &path, true), Ok(ROOT));
    assert_eq!(fs.resolve_parent(ROOT, &long), Err(ENAMETOOLONG));
}

#[test]
fn symlinks_follow_rules() {
    let mut fs = Fs::new();
    let a = mkdir(&mut fs, ROOT, "a");
    let b = mkdir(&mut fs, a, "b");
    let f = mkfile(&mut fs, b, "f", b"data");
    // Relative link: resolved from the directory holding it.
    let rel = symlink(&mut fs, a, "rel", "b/f");
    let up = symlink(&mut fs, b, "up", "../rel");
    let abs = symlink(&mut fs, ROOT, "abs", "/a/b");
    let dirlink = symlink(&mut fs, ROOT, "d", "a");
    assert_eq!(fs.resolve(ROOT, b"/a/rel", true), Ok(f));
    assert_eq!(fs.resolve(ROOT, b"/a/rel", false), Ok(rel));
    assert_eq!(fs.resolve(ROOT, b"/a/b/up", true), Ok(f));
    assert_eq!(fs.resolve(ROOT, b"/a/b/up", false), Ok(up));
    assert_eq!(fs.resolve(ROOT, b"abs/f", false), Ok(f));
    assert_eq!(fs.resolve(ROOT, b"/abs", false), Ok(abs));
    // Intermediate links are always followed.
    assert_eq!(fs.resolve(ROOT, b"/d/b/f", false), Ok(f));
    // ".." after a symlinked directory is the target's parent.
    assert_eq!(fs.resolve(ROOT, b"/abs/..", false), Ok(a));
    // Trailing slash forces a final link to be followed.
    assert_eq!(fs.resolve(ROOT, b"/d/", false), Ok(a));
    assert_eq!(fs.resolve(ROOT, b"/d", false), Ok(dirlink));
    assert_eq!(fs.resolve(ROOT, b"/a/rel/", false), Err(ENOTDIR));
    // Dangling link.
    symlink(&mut fs, ROOT, "dangling", "/nope");
    assert_eq!(fs.resolve(ROOT, b"/dangling", true), Err(ENOENT));
    let dl = fs.resolve(ROOT, b"/dangling", false).unwrap();
    assert_eq!(fs.readlink(dl), Ok(b"/nope".to_vec()));
    assert_eq!(fs.readlink(f), Err(EINVAL));
    // Link to the root.
    symlink(&mut fs, a, "root", "/");
    assert_eq!(fs.resolve(ROOT, b"/a/root", true), Ok(ROOT));
    assert_eq!(fs.resolve(ROOT, b"/a/root/a/b/f", true), Ok(f));
    // Empty or too-long symlink targets are refused.
    assert_eq!(
        fs.create(ROOT, b"e", NewNode::Symlink(Vec::new()), 0, 0, 0),
        Err(ENOENT)
    );
    assert_eq!(
        fs.create(ROOT, b"e", NewNode::Symlink(vec![b'a'; 4096]), 0, 0, 0),
        Err(ENAMETOOLONG)
    );
    assert_eq!(fs.stat(rel).unwrap().mode, 0o120777);
    assert_eq!(fs.stat(rel).unwrap().size, 3);
}

#[test]
fn symlink_loops_give_eloop() {
    let mut fs = Fs::new();
    symlink(&mut fs, ROOT, "self", "self");
    symlink(&mut fs, ROOT, "x", "y");
    symlink(&mut fs, ROOT, "y", "x");
    assert_eq!(fs.resolve(ROOT, b"/self", true), Err(ELOOP));
    assert_eq!(fs.resolve(ROOT, b"/x", true), Err(ELOOP));
    assert_eq!(fs.resolve(ROOT, b"/x/z", false), Err(ELOOP));
    // Not followed as the last component: no loop.
    assert!(fs.resolve(ROOT, b"/x", false).is_ok());
    // A link that grows the path each time it is followed still stops.
    symlink(&mut fs, ROOT, "grow", "grow/grow/grow/grow");
    assert_eq!(fs.resolve(ROOT, b"/grow", true), Err(ELOOP));

    // Exactly 40 links in a chain resolve; 41 do not.
    let mut fs = Fs::new();
    let target = mkfile(&mut fs, ROOT, "l0", b"");
    for i in 1..=41 {
        symlink(&mut fs, ROOT, &format!("l{i}"), &format!("l{}", i - 1));
    }
    assert_eq!(fs.resolve(ROOT, b"/l40", true), Ok(target));
    assert_eq!(fs.resolve(ROOT, b"/l41", true), Err(ELOOP));
}

#[test]
fn resolve_parent_cases() {
    let mut fs = Fs::new();
    let a = mkdir(&mut fs, ROOT, "a");
    let f = mkfile(&mut fs, a, "f", b"");
    symlink(&mut fs, ROOT, "la", "a");
    assert_eq!(
        fs.resolve_parent(ROOT, b"/a/new"),
        Ok((a, b"new".to_vec(), false))
    );
    assert_eq!(
        fs.resolve_parent(ROOT, b"/la/new/"),
        Ok((a, b"new".to_vec(), true))
    );
    assert_eq!(
        fs.resolve_parent(a, b"new"),
        Ok((a, b"new".to_vec(), false))
    );
    assert_eq!(
        fs.resolve_parent(a, b"new//"),
        Ok((a, b"new".to_vec(), true))
    );
    assert_eq!(
        fs.resolve_parent(ROOT, b"/x"),
        Ok((ROOT, b"x".to_vec(), false))
    );
    assert_eq!(
        fs.resolve_parent(ROOT, b"//x"),
        Ok((ROOT, b"x".to_vec(), false))
    );
    assert_eq!(
        fs.resolve_parent(ROOT, b"/"),
        Ok((ROOT, b".".to_vec(), false))
    );
    assert_eq!(
        fs.resolve_parent(ROOT, b"///"),
        Ok((ROOT, b".".to_vec(), false))
    );
    assert_eq!(
        fs.resolve_parent(ROOT, b"/a/.."),
        Ok((a, b"..".to_vec(), false))
    );
    assert_eq!(
        fs.resolve_parent(ROOT, b"/a/."),
        Ok((a, b".".to_vec(), false))
    );
    // The last component is not resolved: a symlink there is returned as a name.
    assert_eq!(
        fs.resolve_parent(ROOT, b"/la"),
        Ok((ROOT, b"la".to_vec(), false))
    );
    assert_eq!(fs.resolve_parent(ROOT, b""), Err(ENOENT));
    assert_eq!(fs.resolve_parent(ROOT, b"/nope/x"), Err(ENOENT));
    assert_eq!(fs.resolve_parent(ROOT, b"/a/f/x"), Err(ENOTDIR));
    assert_eq!(fs.resolve_parent(f, b"x"), Err(ENOTDIR));
}

#[test]
fn create_rules() {
    let mut fs = Fs::new();
    fs.set_now(Timespec { sec: 100, nsec: 5 });
    let d = fs.create(ROOT, b"d", NewNode::Dir, 0o41777, 7, 8).unwrap();
    let st = fs.stat(d).unwrap();
    assert_eq!(st.mode, 0o041777);
    assert_eq!((st.uid, st.gid, st.nlink), (7, 8, 2));
    assert_eq!(fs.stat(ROOT).unwrap().nlink, 3);
    assert_eq!(fs.stat(ROOT).unwrap().mtime, Timespec { sec: 100, nsec: 5 });
    assert_eq!(fs.create(ROOT, b"d", NewNode::Reg, 0, 0, 0), Err(EEXIST));
    assert_eq!(fs.create(ROOT, b".", NewNode::Dir, 0, 0, 0), Err(EEXIST));
    assert_eq!(fs.create(ROOT, b"..", NewNode::Dir, 0, 0, 0), Err(EEXIST));
    assert_eq!(fs.create(ROOT, b"", NewNode::Reg, 0, 0, 0), Err(ENOENT));
    assert_eq!(fs.create(ROOT, b"a/b", NewNode::Reg, 0, 0, 0), Err(EINVAL));
    assert_eq!(fs.create(ROOT, b"a\0b", NewNode::Reg, 0, 0, 0), Err(EINVAL));
    let f = fs.create(d, b"f", NewNode::Reg, 0o644, 0, 0).unwrap();
    assert_eq!(fs.create(f, b"x", NewNode::Reg, 0, 0, 0), Err(ENOTDIR));
    let c = fs
        .create(d, b"null", NewNode::Chr(makedev(1, 3)), 0o666, 0, 0)
        .unwrap();
    let st = fs.stat(c).unwrap();
    assert_eq!(st.kind, FileType::Chr);
    assert_eq!(st.mode, 0o020666);
    assert_eq!(st.rdev, 0x103);
    let b = fs
        .create(d, b"sda", NewNode::Blk(makedev(8, 0)), 0o660, 0, 0)
        .unwrap();
    assert_eq!(fs.stat(b).unwrap().mode, 0o060660);
    let p = fs.create(d, b"p", NewNode::Fifo, 0o600, 0, 0).unwrap();
    assert_eq!(fs.stat(p).unwrap().mode, 0o010600);
    let s = fs.create(d, b"s", NewNode::Sock, 0o755, 0, 0).unwrap();
    assert_eq!(fs.stat(s).unwrap().mode, 0o140755);
    assert_eq!(fs.read(c, 0, &mut [0; 4]), Err(EINVAL));
    assert_eq!(fs.read(d, 0, &mut [0; 4]), Err(EISDIR));
    assert_eq!(fs.write(d, 0, b"x"), Err(EISDIR));
    assert_eq!(fs.truncate(d, 0), Err(EISDIR));
}

#[test]
fn makedev_encoding() {
    assert_eq!(makedev(1, 3), 0x103);
    assert_eq!(makedev(8, 17), 0x811);
    assert_eq!(makedev(0x1234, 0x56789), 0x1000_5672_3489);
    assert_eq!(
        makedev(0x1234, 0x56789),
        (0x234 << 8) | 0x89 | (0x56700 << 12) | (0x1000u64 << 32)
    );
}

#[test]
fn file_type_numbers() {
    assert_eq!(FileType::Reg.mode_bits(), 0o100000);
    assert_eq!(FileType::Dir.dirent_type(), 4);
    assert_eq!(FileType::Symlink.dirent_type(), 10);
    assert_eq!(FileType::Sock.mode_bits(), 0o140000);
    assert_eq!(FileType::Fifo.dirent_type(), 1);
}

#[test]
fn unlink_and_rmdir_rules() {
    let mut fs = Fs::new();
    let d = mkdir(&mut fs, ROOT, "d");
    let sub = mkdir(&mut fs, d, "sub");
    mkfile(&mut fs, d, "f", b"x");
    assert_eq!(fs.stat(d).unwrap().nlink, 3);
    assert_eq!(fs.unlink(ROOT, b"d"), Err(EISDIR));
    assert_eq!(fs.unlink(d, b"."), Err(EISDIR));
    assert_eq!(fs.unlink(d, b"nope"), Err(ENOENT));
    assert_eq!(fs.rmdir(d, b"f"), Err(ENOTDIR));
    assert_eq!(fs.rmdir(ROOT, b"d"), Err(ENOTEMPTY));
    assert_eq!(fs.rmdir(d, b"."), Err(EINVAL));
    assert_eq!(fs.rmdir(d, b".."), Err(ENOTEMPTY));
    assert_eq!(fs.rmdir(ROOT, b"."), Err(EBUSY));
    fs.unlink(d, b"f").unwrap();
    assert_eq!(fs.lookup(d, b"f"), Err(ENOENT));
    fs.rmdir(d, b"sub").unwrap();
    assert_eq!(fs.stat(sub), Err(ENOENT));
    assert_eq!(fs.stat(d).unwrap().nlink, 2);
    fs.rmdir(ROOT, b"d").unwrap();
    assert_eq!(fs.stat(ROOT).unwrap().nlink, 2);
    assert_eq!(fs.inode_count(), 1);
}

#[test]
fn removed_cwd_stays_usable_while_held() {
    let mut fs = Fs::new();
    let d = mkdir(&mut fs, ROOT, "d");
    fs.hold(d);
    fs.rmdir(ROOT, b"d").unwrap();
    let st = fs.stat(d).unwrap();
    assert_eq!(st.nlink, 0);
    assert_eq!(fs.resolve(d, b".", true), Ok(d));
    assert_eq!(fs.resolve(d, b"x", true), Err(ENOENT));
    assert_eq!(fs.create(d, b"x", NewNode::Reg, 0, 0, 0), Err(ENOENT));
    assert_eq!(fs.readdir(d, 0), Err(ENOENT));
    assert_eq!(fs.path_of(d), None);
    fs.release(d);
    assert_eq!(fs.stat(d), Err(ENOENT));
}

#[test]
fn hard_links_and_nlink() {
    let mut fs = Fs::new();
    let d = mkdir(&mut fs, ROOT, "d");
    let f = mkfile(&mut fs, ROOT, "f", b"shared");
    fs.set_now(Timespec { sec: 9, nsec: 0 });
    fs.link(d, b"g", f).unwrap();
    assert_eq!(fs.stat(f).unwrap().nlink, 2);
    assert_eq!(fs.stat(f).unwrap().ctime.sec, 9);
    assert_eq!(fs.resolve(ROOT, b"/d/g", true), Ok(f));
    assert_eq!(fs.link(d, b"g", f), Err(EEXIST));
    assert_eq!(fs.link(ROOT, b"dd", d), Err(EPERM));
    assert_eq!(fs.link(f, b"x", f), Err(ENOTDIR));
    fs.unlink(ROOT, b"f").unwrap();
    assert_eq!(fs.stat(f).unwrap().nlink, 1);
    assert_eq!(read_all(&mut fs, f), b"shared");
    fs.unlink(d, b"g").unwrap();
    assert_eq!(fs.stat(f), Err(ENOENT));
}

#[test]
fn unlinked_but_held_file() {
    let mut fs = Fs::new();
    let f = mkfile(&mut fs, ROOT, "tmp", b"abc");
    fs.hold(f);
    fs.hold(f);
    fs.unlink(ROOT, b"tmp").unwrap();
    assert_eq!(fs.stat(f).unwrap().nlink, 0);
    assert_eq!(fs.lookup(ROOT, b"tmp"), Err(ENOENT));
    assert_eq!(fs.write(f, 3, b"def"), Ok(3));
    assert_eq!(read_all(&mut fs, f), b"abcdef");
    // No new links to an unlinked file.
    assert_eq!(fs.link(ROOT, b"back", f), Err(ENOENT));
    fs.release(f);
    assert!(fs.stat(f).is_ok());
    fs.release(f);
    assert_eq!(fs.stat(f), Err(ENOENT));
    // The slot is reused by later inodes.
    let g = mkfile(&mut fs, ROOT, "new", b"");
    assert_eq!(g, f);
    assert_eq!(fs.stat(g).unwrap().size, 0);
}

#[test]
fn rename_basic_and_replace() {
    let mut fs = Fs::new();
    let a = mkdir(&mut fs, ROOT, "a");
    let b = mkdir(&mut fs, ROOT, "b");
    let f = mkfile(&mut fs, a, "f", b"one");
    let g = mkfile(&mut fs, b, "g", b"two");
    fs.rename(a, b"f", b, b"g", 0).unwrap();
    assert_eq!(fs.lookup(a, b"f"), Err(ENOENT));
    assert_eq!(fs.lookup(b, b"g"), Ok(f));
    assert_eq!(fs.stat(g), Err(ENOENT));
    assert_eq!(fs.path_of(f), Some(b"/b/g".to_vec()));
    // Onto itself: nothing happens.
    fs.rename(b, b"g", b, b"g", 0).unwrap();
    assert_eq!(fs.lookup(b, b"g"), Ok(f));
    // Onto another link of the same inode: nothing happens (both stay).
    fs.link(a, b"h", f).unwrap();
    fs.rename(a, b"h", b, b"g", 0).unwrap();
    assert_eq!(fs.lookup(a, b"h"), Ok(f));
    assert_eq!(fs.stat(f).unwrap().nlink, 2);
    // NOREPLACE.
    assert_eq!(fs.rename(a, b"h", b, b"g", RENAME_NOREPLACE), Err(EEXIST));
    mkfile(&mut fs, a, "x", b"");
    fs.rename(a, b"x", b, b"y", RENAME_NOREPLACE).unwrap();
    assert!(fs.lookup(b, b"y").is_ok());
    // Bad flags and missing source.
    assert_eq!(fs.rename(a, b"h", b, b"z", 4), Err(EINVAL));
    assert_eq!(fs.rename(a, b"h", b, b"z", 3), Err(EINVAL));
    assert_eq!(fs.rename(a, b"nope", b, b"z", 0), Err(ENOENT));
    assert_eq!(fs.rename(a, b".", b, b"z", 0), Err(EBUSY));
    assert_eq!(fs.rename(a, b"h", b, b"..", 0), Err(EBUSY));
    assert_eq!(fs.rename(a, b"h", b, b".", RENAME_NOREPLACE), Err(EEXIST));
}

#[test]
fn rename_directory_rules() {
    let mut fs = Fs::new();
    let a = mkdir(&mut fs, ROOT, "a");
    let sub = mkdir(&mut fs, a, "sub");
    let deep = mkdir(&mut fs, sub, "deep");
    let b = mkdir(&mut fs, ROOT, "b");
    let file = mkfile(&mut fs, b, "file", b"");
    let empty = mkdir(&mut fs, b, "empty");
    let full = mkdir(&mut fs, b, "full");
    mkfile(&mut fs, full, "x", b"");

    assert_eq!(fs.rename(ROOT, b"a", b, b"file", 0), Err(ENOTDIR));
    assert_eq!(fs.rename(b, b"file", ROOT, b"a", 0), Err(EISDIR));
    assert_eq!(fs.rename(ROOT, b"a", b, b"full", 0), Err(ENOTEMPTY));
    assert_eq!(fs.rename(ROOT, b"a", sub, b"x", 0), Err(EINVAL));
    assert_eq!(fs.rename(ROOT, b"a", deep, b"x", 0), Err(EINVAL));
    assert_eq!(fs.rename(ROOT, b"a", a, b"x", 0), Err(EINVAL));
    // Moving a dir up onto its (non-empty) ancestor.
    assert_eq!(fs.rename(sub, b"deep", ROOT, b"a", 0), Err(ENOTEMPTY));
    assert_eq!(fs.stat(file).unwrap().nlink, 1);

    // Replace an empty dir, moving between parents.
    assert_eq!(fs.stat(ROOT).unwrap().nlink, 4);
    assert_eq!(fs.stat(b).unwrap().nlink, 4);
    fs.rename(a, b"sub", b, b"empty", 0).unwrap();
    assert_eq!(fs.stat(empty), Err(ENOENT));
    assert_eq!(fs.lookup(b, b"empty"), Ok(sub));
    assert_eq!(fs.stat(a).unwrap().nlink, 2);
    assert_eq!(fs.stat(b).unwrap().nlink, 4);
    assert_eq!(fs.resolve(sub, b"..", true), Ok(b));
    assert_eq!(fs.resolve(deep, b"../..", true), Ok(b));
    assert_eq!(fs.path_of(deep), Some(b"/b/empty/deep".to_vec()));

    // Plain move to a new name in another dir.
    fs.rename(b, b"empty", a, b"moved", 0).unwrap();
    assert_eq!(fs.stat(a).unwrap().nlink, 3);
    assert_eq!(fs.stat(b).unwrap().nlink, 3);
    assert_eq!(fs.resolve(sub, b"..", true), Ok(a));
}

#[test]
fn rename_exchange() {
    let mut fs = Fs::new();
    let a = mkdir(&mut fs, ROOT, "a");
    let b = mkdir(&mut fs, ROOT, "b");
    let d = mkdir(&mut fs, a, "d");
    let f = mkfile(&mut fs, b, "f", b"");
    assert_eq!(fs.rename(a, b"d", b, b"nope", RENAME_EXCHANGE), Err(ENOENT));
    fs.rename(a, b"d", b, b"f", RENAME_EXCHANGE).unwrap();
    assert_eq!(fs.lookup(a, b"d"), Ok(f));
    assert_eq!(fs.lookup(b, b"f"), Ok(d));
    assert_eq!(fs.stat(a).unwrap().nlink, 2);
    assert_eq!(fs.stat(b).unwrap().nlink, 3);
    assert_eq!(fs.resolve(d, b"..", true), Ok(b));
    // A directory cannot be swapped with something inside it.
    let inner = mkdir(&mut fs, d, "inner");
    assert_eq!(
        fs.rename(b, b"f", d, b"inner", RENAME_EXCHANGE),
        Err(EINVAL)
    );
    assert_eq!(
        fs.rename(d, b"inner", b, b"f", RENAME_EXCHANGE),
        Err(EINVAL)
    );
    assert_eq!(fs.resolve(inner, b"..", true), Ok(d));
    // With itself: nothing happens.
    fs.rename(b, b"f", b, b"f", RENAME_EXCHANGE).unwrap();
    assert_eq!(fs.lookup(b, b"f"), Ok(d));
}

#[test]
fn read_write_truncate_holes() {
    let mut fs = Fs::new();
    fs.set_now(Timespec { sec: 1, nsec: 0 });
    let f = mkfile(&mut fs, ROOT, "f", b"hello");
    let mut buf = [0u8; 3];
    assert_eq!(fs.read(f, 1, &mut buf), Ok(3));
    assert_eq!(&buf, b"ell");
    assert_eq!(fs.read(f, 5, &mut buf), Ok(0));
    assert_eq!(fs.read(f, 500, &mut buf), Ok(0));
    assert_eq!(fs.read(f, u64::MAX, &mut buf), Ok(0));
    fs.set_now(Timespec { sec: 2, nsec: 0 });
    // A write past the end leaves a hole of zeros.
    assert_eq!(fs.write(f, 10, b"world"), Ok(5));
    let st = fs.stat(f).unwrap();
    assert_eq!(st.size, 15);
    assert_eq!(st.mtime.sec, 2);
    assert_eq!(st.ctime.sec, 2);
    assert_eq!(read_all(&mut fs, f), b"hello\0\0\0\0\0world");
    // A large hole is cheap.
    assert_eq!(fs.write(f, 1 << 39, b"end"), Ok(3));
    let st = fs.stat(f).unwrap();
    assert_eq!(st.size, (1 << 39) + 3);
    assert!(st.blocks <= 32, "blocks = {}", st.blocks);
    let mut mid = [1u8; 4];
    assert_eq!(fs.read(f, 1 << 30, &mut mid), Ok(4));
    assert_eq!(mid, [0; 4]);
    fs.set_now(Timespec { sec: 3, nsec: 0 });
    fs.truncate(f, 3).unwrap();
    assert_eq!(fs.stat(f).unwrap().mtime.sec, 3);
    assert_eq!(read_all(&mut fs, f), b"hel");
    fs.truncate(f, 6).unwrap();
    assert_eq!(read_all(&mut fs, f), b"hel\0\0\0");
    assert_eq!(fs.truncate(f, MAX_FILE_SIZE + 1), Err(EFBIG));
    assert_eq!(fs.write(f, MAX_FILE_SIZE, b"x"), Err(EFBIG));
    let l = symlink(&mut fs, ROOT, "l", "f");
    assert_eq!(fs.write(l, 0, b"x"), Err(EINVAL));
    assert_eq!(fs.truncate(l, 0), Err(EINVAL));
}

#[test]
fn readdir_cookies() {
    let mut fs = Fs::new();
    let d = mkdir(&mut fs, ROOT, "d");
    for n in ["c", "a", "b", "e"] {
        mkfile(&mut fs, d, n, b"");
    }
    let sub = mkdir(&mut fs, d, "sub");
    let all = fs.readdir(d, 0).unwrap();
    let got: Vec<&[u8]> = all.iter().map(|e| e.name.as_slice()).collect();
    assert_eq!(got, [&b"."[..], b"..", b"c", b"a", b"b", b"e", b"sub"]);
    assert_eq!(all[0].ino, d);
    assert_eq!(all[1].ino, ROOT);
    assert_eq!(all[6].ino, sub);
    assert_eq!(all[6].kind, FileType::Dir);
    assert_eq!(all[2].kind, FileType::Reg);
    // Resuming from each `next` gives the rest.
    for (i, e) in all.iter().enumerate() {
        let rest = fs.readdir(d, e.next).unwrap();
        assert_eq!(rest, all[i + 1..].to_vec());
    }
    // Deleting entries already returned does not make later ones skip.
    let first = fs.readdir_some(d, 0, 4).unwrap();
    assert_eq!(first.len(), 4);
    fs.unlink(d, b"c").unwrap();
    fs.unlink(d, b"a").unwrap();
    let rest = fs.readdir(d, first[3].next).unwrap();
    let got: Vec<&[u8]> = rest.iter().map(|e| e.name.as_slice()).collect();
    assert_eq!(got, [&b"b"[..], b"e", b"sub"]);
    // New entries come after the existing ones.
    mkfile(&mut fs, d, "0new", b"");
    assert_eq!(
        names(&fs, d),
        [".", "..", "b", "e", "sub", "0new"]
            .map(String::from)
            .to_vec()
    );
    assert_eq!(fs.readdir(d, u64::MAX), Ok(Vec::new()));
    let f = fs.lookup(d, b"b").unwrap();
    assert_eq!(fs.readdir(f, 0), Err(ENOTDIR));
}

#[test]
fn metadata_changes() {
    let mut fs = Fs::new();
    let f = mkfile(&mut fs, ROOT, "f", b"");
    fs.set_now(Timespec { sec: 50, nsec: 1 });
    fs.set_mode(f, 0o106755).unwrap();
    let st = fs.stat(f).unwrap();
    assert_eq!(st.mode, 0o106755);
    assert_eq!(st.ctime, Timespec { sec: 50, nsec: 1 });
    fs.set_owner(f, Some(1000), None).unwrap();
    let st = fs.stat(f).unwrap();
    assert_eq!((st.uid, st.gid), (1000, 0));
    // chown clears suid, and sgid because group-exec is set.
    assert_eq!(st.mode, 0o100755);
    fs.set_mode(f, 0o2640).unwrap();
    fs.set_owner(f, None, Some(5)).unwrap();
    assert_eq!(fs.stat(f).unwrap().mode, 0o102640);
    assert_eq!(fs.stat(f).unwrap().gid, 5);
    let t = Timespec { sec: 7, nsec: 8 };
    fs.set_times(f, Some(t), None).unwrap();
    let st = fs.stat(f).unwrap();
    assert_eq!(st.atime, t);
    assert_ne!(st.mtime, t);
    fs.set_times(f, None, Some(t)).unwrap();
    assert_eq!(fs.stat(f).unwrap().mtime, t);
    let l = symlink(&mut fs, ROOT, "l", "f");
    assert_eq!(fs.set_mode(l, 0o600), Err(EOPNOTSUPP));
}

struct Counted {
    data: Vec<u8>,
    loads: Rc<Cell<u32>>,
    fail: bool,
}

impl Content for Counted {
    fn size(&self) -> u64 {
        self.data.len() as u64
    }
    fn load(&self) -> std::io::Result<Vec<u8>> {
        self.loads.set(self.loads.get() + 1);
        if self.fail {
            return Err(std::io::Error::other("gone"));
        }
        Ok(self.data.clone())
    }
}

#[test]
fn lazy_content_loaded_once() {
    let mut fs = Fs::new();
    let loads = Rc::new(Cell::new(0));
    let content = Rc::new(Counted {
        data: b"lazy bytes".to_vec(),
        loads: loads.clone(),
        fail: false,
    });
    let t = Timespec { sec: 42, nsec: 0 };
    let f = fs.create_lazy(ROOT, b"f", content, 0o755, 1, 2, t).unwrap();
    let st = fs.stat(f).unwrap();
    assert_eq!(st.size, 10);
    assert_eq!(st.mtime, t);
    assert_eq!(st.mode, 0o100755);
    assert_eq!(loads.get(), 0);
    let mut buf = [0u8; 4];
    assert_eq!(fs.read(f, 5, &mut buf), Ok(4));
    assert_eq!(&buf, b"byte");
    assert_eq!(fs.read(f, 0, &mut buf), Ok(4));
    assert_eq!(fs.write(f, 0, b"LAZY"), Ok(4));
    assert_eq!(read_all(&mut fs, f), b"LAZY bytes");
    assert_eq!(loads.get(), 1);

    // A failing load gives EIO, and is retried next time.
    let loads2 = Rc::new(Cell::new(0));
    let bad = Rc::new(Counted {
        data: b"xx".to_vec(),
        loads: loads2.clone(),
        fail: true,
    });
    let g = fs.create_lazy(ROOT, b"g", bad, 0o644, 0, 0, t).unwrap();
    assert_eq!(fs.read(g, 0, &mut buf), Err(EIO));
    assert_eq!(fs.read(g, 0, &mut buf), Err(EIO));
    assert_eq!(loads2.get(), 2);
    // Truncating to zero needs no load.
    fs.truncate(g, 0).unwrap();
    assert_eq!(fs.read(g, 0, &mut buf), Ok(0));
    assert_eq!(loads2.get(), 2);
}

#[test]
fn path_of_dirs_and_files() {
    let mut fs = Fs::new();
    let a = mkdir(&mut fs, ROOT, "a");
    let b = mkdir(&mut fs, a, "b");
    let f = mkfile(&mut fs, b, "f", b"");
    assert_eq!(fs.path_of(b), Some(b"/a/b".to_vec()));
    assert_eq!(fs.path_of(f), Some(b"/a/b/f".to_vec()));
    fs.hold(f);
    fs.unlink(b, b"f").unwrap();
    assert_eq!(fs.path_of(f), None);
}

#[test]
fn deep_trees_do_not_recurse() {
    // Building and dropping a very deep tree must not overflow the stack.
    let mut fs = Fs::new();
    let top = mkdir(&mut fs, ROOT, "top");
    let mut cur = top;
    for _ in 0..20_000 {
        cur = mkdir(&mut fs, cur, "d");
    }
    assert!(fs.path_of(cur).is_some_and(|p| p.len() == 4 + 2 * 20_000));
    let before = fs.inode_count();
    assert_eq!(before, 20_002);
    fs.remove_entry(ROOT, b"top");
    assert_eq!(fs.inode_count(), 1);
    assert_eq!(fs.stat(ROOT).unwrap().nlink, 2);
}
