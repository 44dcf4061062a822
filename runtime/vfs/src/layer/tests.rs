use super::*;
use crate::errno::ENOENT;
use tar::{EntryType, Header};

/// Builds test tars in memory.
pub(crate) struct T(tar::Builder<Vec<u8>>);

fn hdr(kind: EntryType, mode: u32) -> Header {
    let mut h = Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1000);
    h.set_size(0);
    h
}

impl T {
    pub(crate) fn new() -> T {
        T(tar::Builder::new(Vec::new()))
    }

    pub(crate) fn file(&mut self, path: &str, data: &[u8]) -> &mut T {
        self.file_meta(path, data, 0o644, 0, 0, 1000)
    }

    pub(crate) fn file_meta(
        &mut self,
        path: &str,
        data: &[u8],
        mode: u32,
        uid: u64,
        gid: u64,
        mtime: u64,
    ) -> &mut T {
        let mut h = hdr(EntryType::Regular, mode);
        h.set_size(data.len() as u64);
        h.set_uid(uid);
        h.set_gid(gid);
        h.set_mtime(mtime);
        self.0.append_data(&mut h, path, data).unwrap();
        self
    }

    pub(crate) fn dir(&mut self, path: &str, mode: u32) -> &mut T {
        let mut h = hdr(EntryType::Directory, mode);
        self.0.append_data(&mut h, path, &b""[..]).unwrap();
        self
    }

    fn dir_mtime(&mut self, path: &str, mode: u32, mtime: u64) -> &mut T {
        let mut h = hdr(EntryType::Directory, mode);
        h.set_mtime(mtime);
        self.0.append_data(&mut h, path, &b""[..]).unwrap();
        self
    }

    pub(crate) fn symlink(&mut self, path: &str, target: &str) -> &mut T {
        let mut h = hdr(EntryType::Symlink, 0o777);
        self.0.append_link(&mut h, path, target).unwrap();
        self
    }

    pub(crate) fn hardlink(&mut self, path: &str, target: &str) -> &mut T {
        let mut h = hdr(EntryType::Link, 0o644);
        self.0.append_link(&mut h, path, target).unwrap();
        self
    }

    pub(crate) fn dev(&mut self, path: &str, kind: EntryType, major: u32, minor: u32) -> &mut T {
        let mut h = hdr(kind, 0o660);
        h.set_device_major(major).unwrap();
        h.set_device_minor(minor).unwrap();
        self.0.append_data(&mut h, path, &b""[..]).unwrap();
        self
    }

    /// An entry whose name (and link name) bytes are written as-is, which
    /// `set_path` would refuse (`..`, absolute paths).
    pub(crate) fn raw(&mut self, name: &[u8], kind: EntryType, data: &[u8], link: &[u8]) -> &mut T {
        let mut h = hdr(kind, 0o644);
        h.set_size(data.len() as u64);
        {
            let old = h.as_old_mut();
            old.name = [0; 100];
            old.name[..name.len()].copy_from_slice(name);
            old.linkname = [0; 100];
            old.linkname[..link.len()].copy_from_slice(link);
        }
        h.set_cksum();
        self.0.append(&h, data).unwrap();
        self
    }

    /// A PAX extended header (type 'x') with these records.
    fn pax(&mut self, records: &[(&str, &str)]) -> &mut T {
        let mut body = Vec::new();
        for (k, v) in records {
            let rest = format!(" {k}={v}\n");
            // The length field counts itself.
            let mut len = rest.len() + 1;
            while format!("{len}{rest}").len() != len {
                len += 1;
            }
            body.extend_from_slice(format!("{len}{rest}").as_bytes());
        }
        let mut h = hdr(EntryType::XHeader, 0o644);
        h.set_size(body.len() as u64);
        self.0.append_data(&mut h, "pax", &body[..]).unwrap();
        self
    }

    pub(crate) fn bytes(&mut self) -> Vec<u8> {
        let b = std::mem::replace(&mut self.0, tar::Builder::new(Vec::new()));
        b.into_inner().unwrap()
    }
}

fn apply(fs: &mut Fs, t: &mut T) -> LayerStats {
    fs.apply_layer(&t.bytes()[..]).expect("apply layer")
}

fn at(fs: &Fs, path: &str) -> Option<Ino> {
    fs.resolve(ROOT, path.as_bytes(), false).ok()
}

fn content(fs: &mut Fs, path: &str) -> Vec<u8> {
    let ino = at(fs, path).expect("exists");
    let mut buf = vec![0u8; 4096];
    let n = fs.read(ino, 0, &mut buf).unwrap();
    buf.truncate(n);
    buf
}

fn ls(fs: &Fs, path: &str) -> Vec<String> {
    let ino = at(fs, path).expect("dir exists");
    let mut v: Vec<String> = fs
        .readdir(ino, 2)
        .unwrap()
        .into_iter()
        .map(|e| String::from_utf8(e.name).unwrap())
        .collect();
    v.sort();
    v
}

#[test]
fn basic_entries_and_metadata() {
    let mut fs = Fs::new();
    let mut t = T::new();
    t.dir("./", 0o755)
        .dir("./bin", 0o755)
        .file_meta("./bin/su", b"#!su", 0o4755, 0, 0, 1234)
        .file_meta("home/user/notes", b"hi", 0o600, 1000, 100, 99)
        .dir("tmp", 0o1777)
        .symlink("bin/sh", "busybox")
        .symlink("abs", "/bin/su")
        .dev("dev/null", EntryType::Char, 1, 3)
        .dev("dev/sda", EntryType::Block, 8, 0)
        .dev("dev/big", EntryType::Char, 0x1234, 0x56789)
        .dev("run/fifo", EntryType::Fifo, 0, 0);
    let stats = apply(&mut fs, &mut t);
    assert_eq!(stats.entries, 11);
    assert_eq!(stats.bytes, 6);

    let su = at(&fs, "/bin/su").unwrap();
    let st = fs.stat(su).unwrap();
    assert_eq!(st.mode, 0o104755);
    assert_eq!(st.mtime, Timespec { sec: 1234, nsec: 0 });
    assert_eq!(content(&mut fs, "/bin/su"), b"#!su");
    let notes = fs.stat(at(&fs, "/home/user/notes").unwrap()).unwrap();
    assert_eq!((notes.uid, notes.gid, notes.mode), (1000, 100, 0o100600));
    // Missing parents were made.
    let home = fs.stat(at(&fs, "/home").unwrap()).unwrap();
    assert_eq!((home.mode, home.uid), (0o040755, 0));
    assert_eq!(fs.stat(at(&fs, "/tmp").unwrap()).unwrap().mode, 0o041777);
    let sh = at(&fs, "/bin/sh").unwrap();
    assert_eq!(fs.readlink(sh), Ok(b"busybox".to_vec()));
    // Absolute symlink targets resolve inside the tree.
    assert_eq!(fs.resolve(ROOT, b"/abs", true), Ok(su));
    let null = fs.stat(at(&fs, "/dev/null").unwrap()).unwrap();
    assert_eq!(
        (null.kind, null.rdev, null.mode),
        (FileType::Chr, 0x103, 0o020660)
    );
    let sda = fs.stat(at(&fs, "/dev/sda").unwrap()).unwrap();
    assert_eq!((sda.kind, sda.rdev), (FileType::Blk, 0x800));
    let big = fs.stat(at(&fs, "/dev/big").unwrap()).unwrap();
    assert_eq!(big.rdev, makedev(0x1234, 0x56789));
    assert_eq!(
        fs.stat(at(&fs, "/run/fifo").unwrap()).unwrap().kind,
        FileType::Fifo
    );
}

#[test]
fn long_names_gnu_and_pax() {
    let long_dir = "d".repeat(120);
    let long_path = format!("{long_dir}/{}", "f".repeat(200));
    let long_target = format!("/{long_dir}/{}", "t".repeat(150));
    let mut fs = Fs::new();
    let mut t = T::new();
    t.file(&long_path, b"gnu")
        .symlink("link", &long_target)
        .pax(&[("path", "pax/named/file"), ("mtime", "1700000000.25")])
        .file("short", b"pax data");
    apply(&mut fs, &mut t);
    assert_eq!(content(&mut fs, &format!("/{long_path}")), b"gnu");
    let l = at(&fs, "/link").unwrap();
    assert_eq!(fs.readlink(l), Ok(long_target.into_bytes()));
    assert_eq!(at(&fs, "/short"), None);
    assert_eq!(content(&mut fs, "/pax/named/file"), b"pax data");
    let st = fs.stat(at(&fs, "/pax/named/file").unwrap()).unwrap();
    assert_eq!(
        st.mtime,
        Timespec {
            sec: 1_700_000_000,
            nsec: 250_000_000
        }
    );
}

#[test]
fn replacement_rules() {
    let mut fs = Fs::new();
    let mut lower = T::new();
    lower
        .file("etc/conf/a", b"a")
        .file("etc/conf/b", b"b")
        .dir("etc/keep", 0o700)
        .file("etc/keep/child", b"c")
        .file("etc/wasfile", b"f")
        .file("etc/willlink", b"old");
    apply(&mut fs, &mut lower);
    let conf = at(&fs, "/etc/conf").unwrap();
    let keep = at(&fs, "/etc/keep").unwrap();
    let etc_nlink = fs.stat(at(&fs, "/etc").unwrap()).unwrap().nlink;
    assert_eq!(etc_nlink, 4);

    let mut upper = T::new();
    upper
        .file("etc/conf", b"now a file")
        .dir("etc/keep", 0o750)
        .dir("etc/wasfile", 0o755)
        .symlink("etc/willlink", "wasfile");
    apply(&mut fs, &mut upper);
    // A file replaced a whole directory tree.
    assert_eq!(content(&mut fs, "/etc/conf"), b"now a file");
    assert_eq!(fs.stat(conf), Err(ENOENT));
    // A dir onto a dir keeps the children, takes the new metadata.
    assert_eq!(at(&fs, "/etc/keep"), Some(keep));
    assert_eq!(fs.stat(keep).unwrap().mode, 0o040750);
    assert_eq!(content(&mut fs, "/etc/keep/child"), b"c");
    assert_eq!(fs.kind(at(&fs, "/etc/wasfile").unwrap()), Ok(FileType::Dir));
    assert_eq!(
        fs.kind(at(&fs, "/etc/willlink").unwrap()),
        Ok(FileType::Symlink)
    );
    // /etc: conf left (dir->file), wasfile became a dir.
    assert_eq!(fs.stat(at(&fs, "/etc").unwrap()).unwrap().nlink, 4);
}

#[test]
fn whiteouts_delete_lower_entries() {
    let mut fs = Fs::new();
    let mut lower = T::new();
    lower
        .file("a/file", b"1")
        .file("a/other", b"2")
        .file("a/tree/x/y/z", b"3")
        .file("b", b"4");
    apply(&mut fs, &mut lower);
    let before = fs.inode_count();
    let mut upper = T::new();
    upper
        .file("a/.wh.file", b"")
        .file("a/.wh.tree", b"")
        .file(".wh.nothing-here", b"")
        .file("nodir/.wh.x", b"")
        .file("a/.wh..wh.plnk", b"");
    apply(&mut fs, &mut upper);
    assert_eq!(ls(&fs, "/a"), ["other"]);
    assert!(at(&fs, "/b").is_some());
    // Whiteout files themselves never appear, nor does a dir for them.
    assert_eq!(at(&fs, "/nodir"), None);
    // file, tree, x, y, z are gone.
    assert_eq!(fs.inode_count(), before - 5);
    assert_eq!(fs.stat(at(&fs, "/a").unwrap()).unwrap().nlink, 2);
}

#[test]
fn whiteout_does_not_remove_same_layer_entries() {
    let mut fs = Fs::new();
    let mut lower = T::new();
    lower.file("x", b"lower").file("d/lowerchild", b"l");
    apply(&mut fs, &mut lower);
    let mut upper = T::new();
    // The new entries come before their whiteouts in the tar.
    upper
        .file("x", b"upper")
        .file("d/newchild", b"n")
        .file(".wh.x", b"")
        .file(".wh.d", b"");
    apply(&mut fs, &mut upper);
    assert_eq!(content(&mut fs, "/x"), b"upper");
    assert_eq!(ls(&fs, "/d"), ["newchild"]);

    // And after: the whiteout first, then the new entry.
    let mut third = T::new();
    third.file(".wh.x", b"").file("x", b"third");
    apply(&mut fs, &mut third);
    assert_eq!(content(&mut fs, "/x"), b"third");
}

#[test]
fn opaque_directories() {
    let mut fs = Fs::new();
    let mut lower = T::new();
    lower
        .file("d/a", b"a")
        .file("d/b", b"b")
        .file("d/sub/x", b"x")
        .file("d/sub/deeper/q", b"q")
        .file("other/keep", b"k");
    apply(&mut fs, &mut lower);
    let d = at(&fs, "/d").unwrap();
    let mut upper = T::new();
    upper
        .dir("d", 0o700)
        .file("d/c", b"c")
        .file("d/sub/y", b"y")
        .file("d/.wh..wh..opq", b"")
        .file("d/e", b"e");
    apply(&mut fs, &mut upper);
    assert_eq!(at(&fs, "/d"), Some(d));
    assert_eq!(fs.stat(d).unwrap().mode, 0o040700);
    assert_eq!(ls(&fs, "/d"), ["c", "e", "sub"]);
    // The same-layer child of a same-layer (implicit) dir stays; the lower
    // contents of that dir go.
    assert_eq!(ls(&fs, "/d/sub"), ["y"]);
    assert_eq!(ls(&fs, "/other"), ["keep"]);
    assert_eq!(fs.stat(d).unwrap().nlink, 3);

    // An opaque marker for a dir that does not exist yet makes it.
    let mut third = T::new();
    third.file("fresh/.wh..wh..opq", b"");
    apply(&mut fs, &mut third);
    assert_eq!(ls(&fs, "/fresh"), Vec::<String>::new());
}

#[test]
fn hard_links_in_layers() {
    let mut fs = Fs::new();
    let mut lower = T::new();
    lower.file("usr/bin/busybox", b"BB").dir("usr/sbin", 0o755);
    apply(&mut fs, &mut lower);
    let bb = at(&fs, "/usr/bin/busybox").unwrap();
    let mut upper = T::new();
    upper
        .hardlink("bin/ls", "usr/bin/busybox")
        .hardlink("./bin/cat", "./usr/bin/busybox")
        .file("new", b"N")
        .hardlink("new2", "new")
        .hardlink("usr/bin/busybox", "usr/bin/busybox");
    apply(&mut fs, &mut upper);
    assert_eq!(at(&fs, "/bin/ls"), Some(bb));
    assert_eq!(at(&fs, "/bin/cat"), Some(bb));
    assert_eq!(fs.stat(bb).unwrap().nlink, 3);
    let new = at(&fs, "/new").unwrap();
    assert_eq!(at(&fs, "/new2"), Some(new));
    assert_eq!(fs.stat(new).unwrap().nlink, 2);

    for (path, target, why) in [
        ("x", "missing", "hard link target missing"),
        ("y", "usr/sbin", "hard link to a directory"),
        ("z", "../../etc/passwd", "link target escapes the root"),
    ] {
        let mut bad = T::new();
        bad.raw(path.as_bytes(), EntryType::Link, b"", target.as_bytes());
        match fs.apply_layer(&bad.bytes()[..]) {
            Err(LayerError::Hostile { why: w, .. }) => assert_eq!(w, why),
            other => panic!("{path}: expected Hostile, got {other:?}"),
        }
    }
}

#[test]
fn hostile_dotdot_rejects_whole_layer() {
    let mut fs = Fs::new();
    let mut t = T::new();
    t.file("good", b"g")
        .raw(b"../evil", EntryType::Regular, b"e", b"")
        .file("after", b"a");
    let err = fs.apply_layer(&t.bytes()[..]).unwrap_err();
    assert!(
        matches!(&err, LayerError::Hostile { path, .. } if path == "../evil"),
        "{err:?}"
    );
    assert_eq!(at(&fs, "/good"), None);
    assert_eq!(fs.inode_count(), 1);

    let mut t = T::new();
    t.raw(b"a/../../b", EntryType::Regular, b"", b"");
    assert!(matches!(
        fs.apply_layer(&t.bytes()[..]),
        Err(LayerError::Hostile { .. })
    ));
    // A `..` that stays inside is fine.
    let mut t = T::new();
    t.raw(b"a/../b", EntryType::Regular, b"b", b"");
    apply(&mut fs, &mut t);
    assert_eq!(content(&mut fs, "/b"), b"b");
    assert_eq!(at(&fs, "/a"), None);
}

#[test]
fn absolute_entries_and_escaping_symlinks_are_contained() {
    let mut fs = Fs::new();
    let mut t = T::new();
    t.raw(b"/etc/passwd", EntryType::Regular, b"root", b"")
        .raw(b"///etc//./group", EntryType::Regular, b"grp", b"")
        .dir("usr/lib", 0o755)
        .symlink("lib", "usr/lib")
        .symlink("lib64", "/usr/lib")
        .symlink("up", "../../../..");
    apply(&mut fs, &mut t);
    assert_eq!(content(&mut fs, "/etc/passwd"), b"root");
    assert_eq!(content(&mut fs, "/etc/group"), b"grp");
    // Entries below a symlinked directory land in its target, inside the tree.
    let mut t = T::new();
    t.file("lib/libc.so", b"c")
        .file("lib64/ld.so", b"ld")
        .file("up/escaped", b"no");
    apply(&mut fs, &mut t);
    assert_eq!(ls(&fs, "/usr/lib"), ["ld.so", "libc.so"]);
    assert_eq!(content(&mut fs, "/escaped"), b"no");
    assert_eq!(fs.kind(at(&fs, "/lib").unwrap()), Ok(FileType::Symlink));
}

#[test]
fn truncated_and_broken_tars_are_errors() {
    let mut t = T::new();
    t.file("one", &[7u8; 1000]).file("two", b"2");
    let full = t.bytes();
    let mut fs = Fs::new();
    // Cut inside the data of the first file.
    let err = fs.apply_layer(&full[..512 + 300]).unwrap_err();
    assert!(matches!(err, LayerError::Truncated { .. }), "{err:?}");
    // Cut inside a header.
    let err = fs.apply_layer(&full[..512 + 1024 + 100]).unwrap_err();
    assert!(matches!(err, LayerError::Io(_)), "{err:?}");
    assert_eq!(fs.inode_count(), 1);
    // Garbage.
    let garbage: Vec<u8> = (0..2048u32).map(|i| (i * 7 + 3) as u8).collect();
    assert!(fs.apply_layer(&garbage[..]).is_err());
    // A size field much larger than the data.
    let mut h = hdr(EntryType::Regular, 0o644);
    h.set_path("huge").unwrap();
    h.set_size(1 << 50);
    h.set_cksum();
    let mut raw = h.as_bytes().to_vec();
    raw.extend_from_slice(&[1u8; 512]);
    let err = fs.apply_layer(&raw[..]).unwrap_err();
    assert!(matches!(err, LayerError::Hostile { .. }), "{err:?}");
    h.set_size(1 << 20);
    h.set_cksum();
    let mut raw = h.as_bytes().to_vec();
    raw.extend_from_slice(&[1u8; 512]);
    let err = fs.apply_layer(&raw[..]).unwrap_err();
    assert!(matches!(err, LayerError::Truncated { .. }), "{err:?}");
    // Empty input and an empty archive are fine.
    assert_eq!(fs.apply_layer(&b""[..]).unwrap(), LayerStats::default());
    assert_eq!(
        fs.apply_layer(&[0u8; 1024][..]).unwrap(),
        LayerStats::default()
    );
    // And the full one applies.
    apply(&mut fs, &mut T::new());
    fs.apply_layer(&full[..]).unwrap();
    assert_eq!(content(&mut fs, "/one"), vec![7u8; 1000]);
}

#[test]
fn directory_mtimes_survive_children() {
    let mut fs = Fs::new();
    let mut t = T::new();
    t.dir_mtime("d", 0o755, 555)
        .file("d/a", b"")
        .file("d/b", b"")
        .dir_mtime("./", 0o700, 777);
    fs.set_now(Timespec { sec: 9999, nsec: 0 });
    apply(&mut fs, &mut t);
    let d = fs.stat(at(&fs, "/d").unwrap()).unwrap();
    assert_eq!(d.mtime, Timespec { sec: 555, nsec: 0 });
    let root = fs.stat(ROOT).unwrap();
    assert_eq!(root.mtime, Timespec { sec: 777, nsec: 0 });
    assert_eq!(root.mode, 0o040700);
}

#[test]
fn unknown_entry_types_are_skipped() {
    let mut fs = Fs::new();
    let mut t = T::new();
    t.raw(b"weird", EntryType::new(b'Z'), b"zz", b"")
        .file("ok", b"ok");
    let stats = apply(&mut fs, &mut t);
    assert_eq!(stats.entries, 2);
    assert_eq!(at(&fs, "/weird"), None);
    assert_eq!(content(&mut fs, "/ok"), b"ok");
}

#[test]
fn normalize_paths() {
    let n = |p: &str| normalize(p.as_bytes());
    let v = |c: &[&str]| Some(c.iter().map(|s| s.as_bytes().to_vec()).collect::<Vec<_>>());
    assert_eq!(n("./a/b/"), v(&["a", "b"]));
    assert_eq!(n("/a//./b"), v(&["a", "b"]));
    assert_eq!(n("a/../b"), v(&["b"]));
    assert_eq!(n("./"), v(&[]));
    assert_eq!(n(".."), None);
    assert_eq!(n("a/../.."), None);
}

#[test]
fn pax_times() {
    let t = |sec, nsec| Some(Timespec { sec, nsec });
    assert_eq!(parse_pax_time("12"), t(12, 0));
    assert_eq!(parse_pax_time("12.5"), t(12, 500_000_000));
    assert_eq!(parse_pax_time("12.0000000019"), t(12, 1));
    assert_eq!(parse_pax_time("-1.25"), t(-2, 750_000_000));
    assert_eq!(parse_pax_time("-3"), t(-3, 0));
    assert_eq!(parse_pax_time(""), None);
    assert_eq!(parse_pax_time("1.x"), None);
    assert_eq!(parse_pax_time("99999999999999999999"), None);
}

/// A small deterministic pseudo-random generator for the mutation tests.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
}

#[test]
fn mutated_tars_never_panic() {
    let mut t = T::new();
    t.dir("d", 0o755)
        .file("d/f", b"content")
        .symlink("d/l", "f")
        .hardlink("d/h", "d/f")
        .file("d/.wh.x", b"")
        .file("d/.wh..wh..opq", b"")
        .pax(&[("path", "p/q"), ("mtime", "5.5")])
        .file("ignored", b"pq")
        .dev("c", EntryType::Char, 4, 5);
    let good = t.bytes();
    let mut rng = Lcg(7);
    for round in 0..400 {
        let mut bad = good.clone();
        for _ in 0..1 + round % 8 {
            let pos = (rng.next() as usize) % bad.len();
            bad[pos] = rng.next() as u8;
        }
        if round % 5 == 0 {
            let cut = (rng.next() as usize) % bad.len();
            bad.truncate(cut);
        }
        let mut fs = Fs::new();
        let _ = fs.apply_layer(&bad[..]);
        // Whatever was applied must still be a consistent tree.
        let _ = fs.resolve(ROOT, b"/d/l", true);
        let _ = fs.readdir(ROOT, 0);
    }
}

#[test]
fn random_paths_never_panic() {
    let mut fs = Fs::new();
    let mut t = T::new();
    t.file("a/b/c", b"x")
        .symlink("a/up", "..")
        .symlink("a/loop", "loop")
        .symlink("a/abs", "/a/b")
        .symlink("a/b/file", "c")
        .dir("e", 0o755);
    apply(&mut fs, &mut t);
    let parts: [&[u8]; 10] = [
        b"a", b"b", b"c", b"..", b".", b"", b"up", b"loop", b"abs", b"file",
    ];
    let mut rng = Lcg(11);
    for _ in 0..3000 {
        let mut path = Vec::new();
        if rng.next().is_multiple_of(2) {
            path.push(b'/');
        }
        for _ in 0..rng.next() % 8 {
            path.extend_from_slice(parts[(rng.next() % 10) as usize]);
            path.push(b'/');
        }
        if rng.next().is_multiple_of(2) {
            path.pop();
        }
        let follow = rng.next().is_multiple_of(2);
        if let Ok(ino) = fs.resolve(ROOT, &path, follow) {
            assert!(fs.stat(ino).is_ok());
            if path.last() == Some(&b'/') {
                assert_eq!(fs.kind(ino), Ok(FileType::Dir));
            }
        }
        if let Ok((dir, name, _)) = fs.resolve_parent(ROOT, &path) {
            assert_eq!(fs.kind(dir), Ok(FileType::Dir));
            let _ = fs.lookup(dir, &name);
        }
    }
}
