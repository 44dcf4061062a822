use super::*;
use crate::layer::tests::T;
use crate::{FileType, Ino, ROOT};
use tar::EntryType;

/// Two layers exercising every entry kind, duplicate content within and
/// across layers, multi-chunk files, whiteouts and opaque directories.
fn layers() -> Vec<Vec<u8>> {
    let big: Vec<u8> = (0..(2 * CHUNK_SIZE + 12345))
        .map(|i| (i * 7 % 251) as u8)
        .collect();
    let mut a = T::new();
    a.dir("etc", 0o755)
        .file_meta("etc/passwd", b"root:x:0:0\n", 0o644, 0, 0, 1234)
        .file("etc/copy", b"root:x:0:0\n")
        .file_meta("usr/bin/tool", &big, 0o755, 1, 2, 99)
        .file("empty", b"")
        .symlink("etc/link", "passwd")
        .hardlink("etc/hard", "etc/passwd")
        .dev("dev/null", EntryType::Char, 1, 3)
        .dev("dev/fifo", EntryType::Fifo, 0, 0)
        .dir("opq", 0o700)
        .file("opq/old", b"lower")
        .file("gone", b"to be whited out");
    let mut b = T::new();
    b.file(".wh.gone", b"")
        .file("opq/.wh..wh..opq", b"")
        .file("opq/new", b"upper")
        .file("usr/bin/tool2", &big)
        .file("etc/passwd", b"changed\n");
    vec![a.bytes(), b.bytes()]
}

fn convert(tars: &[Vec<u8>]) -> (Vec<Vec<u8>>, Vec<LayerOutput>) {
    let mut seen = Seen::new();
    let mut blobs = Vec::new();
    let mut outs = Vec::new();
    for t in tars {
        let mut blob = Vec::new();
        let out = write_layer(&t[..], &mut blob, &mut seen, &mut |_| {}).expect("write layer");
        blobs.push(blob);
        outs.push(out);
    }
    (blobs, outs)
}

fn friscy_fs(blobs: &[Vec<u8>], outs: &[LayerOutput]) -> Fs {
    let indexes: Vec<Index> = blobs
        .iter()
        .zip(outs)
        .map(|(b, o)| {
            let m = &b[o.index_offset as usize..(o.index_offset + o.index_len) as usize];
            read_index(m).expect("index")
        })
        .collect();
    let mut fs = Fs::new();
    fs.apply_friscy_layers(&indexes, Box::new(BlobChunks(blobs.to_vec())))
        .expect("apply");
    fs
}

/// Everything observable under `dir`, as text lines.
fn describe(fs: &mut Fs, dir: Ino, prefix: &str, out: &mut Vec<String>) {
    let entries = fs.readdir(dir, 2).expect("readdir");
    let mut entries: Vec<_> = entries
        .into_iter()
        .filter(|e| e.name != b"." && e.name != b"..")
        .collect();
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    for e in entries {
        let path = format!("{prefix}/{}", String::from_utf8_lossy(&e.name));
        let st = fs.stat(e.ino).expect("stat");
        let extra = match st.kind {
            FileType::Reg => {
                let mut buf = vec![0u8; st.size as usize];
                let n = fs.read(e.ino, 0, &mut buf).expect("read");
                format!("sha {}", Digest::of(&buf[..n]).hex())
            }
            FileType::Symlink => String::from_utf8_lossy(&fs.readlink(e.ino).unwrap()).into(),
            _ => String::new(),
        };
        out.push(format!(
            "{path} {:?} mode {:o} {}:{} mtime {} size {} rdev {} nlink {} {extra}",
            st.kind, st.mode, st.uid, st.gid, st.mtime.sec, st.size, st.rdev, st.nlink
        ));
        if st.kind == FileType::Dir {
            describe(fs, e.ino, &path, out);
        }
    }
}

fn tree(fs: &mut Fs) -> Vec<String> {
    let mut out = Vec::new();
    describe(fs, ROOT, "", &mut out);
    out
}

#[test]
fn friscy_layers_give_the_tree_the_tars_give() {
    let tars = layers();
    let mut reference = Fs::new();
    for t in &tars {
        reference.apply_layer(&t[..]).expect("apply tar");
    }
    let (blobs, outs) = convert(&tars);
    let mut fs = friscy_fs(&blobs, &outs);
    let want = tree(&mut reference);
    assert!(want.iter().any(|l| l.contains("/opq/new")));
    assert!(
        !want
            .iter()
            .any(|l| l.contains("/gone") || l.contains("/opq/old"))
    );
    assert_eq!(tree(&mut fs), want);
}

#[test]
fn content_is_stored_once_and_conversion_is_deterministic() {
    let tars = layers();
    let (blobs, outs) = convert(&tars);
    let (again, _) = convert(&tars);
    assert_eq!(blobs, again, "same input, same bytes");
    // etc/copy repeats etc/passwd; usr/bin/tool2 repeats usr/bin/tool
    assert_eq!(outs[0].dedup_bytes, 11);
    assert_eq!(outs[1].dedup_bytes, (2 * CHUNK_SIZE + 12345) as u64);
    assert_eq!(outs[1].chunks, 2, "only 'upper' and 'changed' are new");
    for (blob, out) in blobs.iter().zip(&outs) {
        assert_eq!(out.size, blob.len() as u64);
        assert_eq!(out.digest, format!("sha256:{}", Digest::of(blob).hex()));
    }
}

#[test]
fn blobs_are_plain_tar_gzip_and_recompress_to_themselves() {
    let (blobs, outs) = convert(&layers());
    for (blob, out) in blobs.iter().zip(&outs) {
        let mut tar = Vec::new();
        flate2::read::MultiGzDecoder::new(&blob[..])
            .read_to_end(&mut tar)
            .unwrap();
        assert_eq!(out.diff_id, format!("sha256:{}", Digest::of(&tar).hex()));
        let mut names = Vec::new();
        for e in tar::Archive::new(&tar[..]).entries().unwrap() {
            names.push(e.unwrap().path().unwrap().display().to_string());
        }
        assert_eq!(names.last().map(String::as_str), Some(INDEX_PATH));
        assert!(names.iter().all(|n| n.starts_with("friscy/")));
        let mut again = Vec::new();
        let (digest, size) = recompress(&tar[..], &mut again).unwrap();
        assert_eq!((digest, size), (out.digest.clone(), out.size));
        assert_eq!(&again, blob);
    }
}

#[test]
fn damaged_chunks_read_as_errors_not_wrong_bytes() {
    let (mut blobs, outs) = convert(&layers());
    let ix = read_index(
        &blobs[0]
            [outs[0].index_offset as usize..(outs[0].index_offset + outs[0].index_len) as usize],
    )
    .unwrap();
    // swap the two bytes of the deflate data of the first stored chunk
    let c = ix.chunks[0];
    let mid = (c.offset + c.clen / 2) as usize;
    blobs[0][mid] ^= 0x55;
    let mut fs = friscy_fs(&blobs, &outs);
    let mut failed = 0;
    // every file: reading either succeeds with the right bytes or fails
    let mut reference = Fs::new();
    for t in &layers() {
        reference.apply_layer(&t[..]).unwrap();
    }
    for path in ["etc/passwd", "etc/copy", "usr/bin/tool", "opq/new", "empty"] {
        let a = fs.resolve(ROOT, path.as_bytes(), true).unwrap();
        let b = reference.resolve(ROOT, path.as_bytes(), true).unwrap();
        let size = fs.stat(a).unwrap().size as usize;
        let mut x = vec![0u8; size];
        let mut y = vec![0u8; size];
        match fs.read(a, 0, &mut x) {
            Ok(_) => {
                reference.read(b, 0, &mut y).unwrap();
                assert_eq!(x, y, "{path}");
            }
            Err(e) => {
                assert_eq!(e, crate::errno::EIO);
                failed += 1;
            }
        }
    }
    assert!(failed >= 1, "the damaged chunk was noticed");
}

#[test]
fn missing_chunks_and_broken_indexes_are_refused() {
    let (blobs, outs) = convert(&layers());
    // the upper layer alone names chunks stored in the lower one
    let upper = read_index(
        &blobs[1]
            [outs[1].index_offset as usize..(outs[1].index_offset + outs[1].index_len) as usize],
    )
    .unwrap();
    let mut fs = Fs::new();
    let err = fs
        .apply_friscy_layers(
            std::slice::from_ref(&upper),
            Box::new(BlobChunks(vec![blobs[1].clone()])),
        )
        .unwrap_err();
    assert!(err.to_string().contains("no layer stores"), "{err}");
    // every truncation and many byte flips of an index: errors, no panic
    let enc = upper.encode();
    for n in 0..enc.len() {
        assert!(Index::decode(&enc[..n]).is_err());
    }
    let mut x = 0x1234_5678u32;
    for _ in 0..2000 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        let mut m = enc.clone();
        let i = x as usize % m.len();
        m[i] = m[i].wrapping_add((x >> 8) as u8 | 1);
        if let Ok(ix) = Index::decode(&m) {
            let mut fs = Fs::new();
            let _ = fs.apply_friscy_layers(&[ix], Box::new(BlobChunks(blobs.clone())));
        }
    }
    assert_eq!(Index::decode(&enc).unwrap(), upper);
}

#[test]
fn hostile_source_layers_are_refused() {
    let mut t = T::new();
    t.raw(b"../escape", EntryType::Regular, b"x", b"");
    let mut seen = Seen::new();
    let err = write_layer(&t.bytes()[..], &mut Vec::new(), &mut seen, &mut |_| {}).unwrap_err();
    assert!(err.to_string().contains("escapes"), "{err}");
    // truncated source
    let mut t = T::new();
    t.file("f", &[7u8; 5000]);
    let bytes = t.bytes();
    let cut = &bytes[..2048];
    assert!(write_layer(cut, &mut Vec::new(), &mut Seen::new(), &mut |_| {}).is_err());
}

#[test]
fn a_layer_rewritten_from_its_index_is_the_layer_written_from_its_tar() {
    let tars = layers();
    let (blobs, outs) = convert(&tars[..1]);
    let (blob, out) = (&blobs[0], &outs[0]);
    let m = &blob[out.index_offset as usize..(out.index_offset + out.index_len) as usize];
    let index = read_index(m).unwrap();
    let mut rewritten = Vec::new();
    let again = rewrite_layer(
        &index,
        &mut |loc| {
            let m = &blob[loc.offset as usize..(loc.offset + loc.clen) as usize];
            member_data(m, loc.len as usize)
        },
        &mut rewritten,
    )
    .unwrap();
    assert_eq!(&rewritten, blob);
    assert_eq!(again.digest, out.digest);
    assert_eq!(again.diff_id, out.diff_id);
    assert_eq!(
        (again.index_offset, again.index_len),
        (out.index_offset, out.index_len)
    );
    // a chunk that is not what its name says is refused
    let bad = rewrite_layer(&index, &mut |loc| Ok(vec![0; loc.len as usize]), Vec::new());
    assert!(bad.is_err());
}

#[test]
fn an_index_is_read_only_with_the_digest_the_config_pins() {
    let (blobs, outs) = convert(&layers());
    let member = |i: usize| {
        let o = &outs[i];
        blobs[i][o.index_offset as usize..(o.index_offset + o.index_len) as usize].to_vec()
    };
    assert_eq!(outs[0].index_digest, sha256_digest(&member(0)));
    let ix = read_pinned_index(&member(0), &outs[0].index_digest).unwrap();
    assert_eq!(ix, read_index(&member(0)).unwrap());
    // another layer's index (a valid one, so only the digest can tell)
    // in its place is refused, and so is an index with no digest pinned
    for pin in [outs[0].index_digest.as_str(), ""] {
        let err = read_pinned_index(&member(1), pin).unwrap_err();
        assert!(matches!(err, ImageError::Mismatch { .. }), "{err}");
    }
}

#[test]
fn chunk_locations_are_bounded_before_anything_is_allocated() {
    let (blobs, outs) = convert(&layers());
    let o = &outs[0];
    let m = &blobs[0][o.index_offset as usize..(o.index_offset + o.index_len) as usize];
    let ix = read_index(m).unwrap();
    for (len, clen) in [
        (CHUNK_SIZE as u32 + 1, 100),
        (10, MAX_CHUNK_MEMBER + 1),
        (10, u64::MAX),
    ] {
        let mut bad = ix.clone();
        bad.chunks[0].len = len;
        bad.chunks[0].clen = clen;
        let err = Index::decode(&bad.encode()).unwrap_err();
        assert!(err.to_string().contains("larger than a chunk"), "{err}");
    }
    // a member whose tar header claims more than it holds: an error, and
    // nothing the size of the claim is set aside for it
    let claim = 200 << 20;
    let mut tar = header("friscy/index", claim, false).to_vec();
    tar.extend_from_slice(&[1u8; 512]);
    let err = member_data(&compress_member(&tar), MAX_INDEX_SIZE).unwrap_err();
    assert!(err.to_string().contains("cut short"), "{err}");
    // the largest member a full chunk makes fits the bound
    let noise: Vec<u8> = (0..CHUNK_SIZE as u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let z = compress_member(&entry_bytes("friscy/c/x", &noise, false));
    assert!(
        z.len() as u64 <= MAX_CHUNK_MEMBER,
        "{} > {MAX_CHUNK_MEMBER}",
        z.len()
    );
}

#[test]
fn a_refused_chunk_is_reported_to_the_source() {
    struct Tampered(BlobChunks, std::rc::Rc<std::cell::RefCell<Vec<String>>>);
    impl ChunkSource for Tampered {
        fn chunk(&self, layer: usize, loc: &ChunkLoc) -> io::Result<Vec<u8>> {
            let mut data = self.0.chunk(layer, loc)?;
            data[0] ^= 1;
            Ok(data)
        }
        fn refused(&self, _layer: usize, _loc: &ChunkLoc, why: &str) {
            self.1.borrow_mut().push(why.to_owned());
        }
    }
    let (blobs, outs) = convert(&layers());
    let indexes: Vec<Index> = blobs
        .iter()
        .zip(&outs)
        .map(|(b, o)| {
            read_index(&b[o.index_offset as usize..(o.index_offset + o.index_len) as usize])
                .unwrap()
        })
        .collect();
    let heard = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let mut fs = Fs::new();
    fs.apply_friscy_layers(
        &indexes,
        Box::new(Tampered(BlobChunks(blobs), heard.clone())),
    )
    .unwrap();
    let ino = fs.resolve(ROOT, b"etc/copy", true).unwrap();
    assert_eq!(fs.read(ino, 0, &mut [0u8; 16]), Err(crate::errno::EIO));
    let heard = heard.borrow();
    assert_eq!(heard.len(), 1, "{heard:?}");
    assert!(heard[0].contains("does not match its digest"), "{heard:?}");
}

/// A small image whose index names one stored chunk a million times (a
/// file of a terabyte from a megabyte): reading it is ENOMEM under a
/// memory limit, not an attempt to hold it.
#[test]
fn a_file_larger_than_the_room_is_enomem() {
    std::thread::spawn(|| {
        let (blobs, outs) = convert(&layers());
        let o = &outs[0];
        let m = &blobs[0][o.index_offset as usize..(o.index_offset + o.index_len) as usize];
        let mut ix = read_index(m).unwrap();
        let big = ix
            .chunks
            .iter()
            .find(|c| c.len as usize == CHUNK_SIZE)
            .copied()
            .unwrap();
        ix.entries.push(Entry {
            path: b"bomb".to_vec(),
            kind: Kind::File {
                size: u64::from(big.len) * 1_000_000,
                chunks: vec![big.digest; 1_000_000],
            },
            mode: 0o644,
            uid: 0,
            gid: 0,
            mtime: Timespec { sec: 0, nsec: 0 },
        });
        let mut fs = Fs::new();
        fs.apply_friscy_layers(&[ix], Box::new(BlobChunks(vec![blobs[0].clone()])))
            .unwrap();
        friscy_budget::set_limit(Some(friscy_budget::used() + (64 << 20)));
        let ino = fs.resolve(ROOT, b"bomb", true).unwrap();
        assert_eq!(fs.read(ino, 0, &mut [0u8; 16]), Err(crate::errno::ENOMEM));
        // a file that fits is read
        let ino = fs.resolve(ROOT, b"etc/passwd", true).unwrap();
        assert!(fs.read(ino, 0, &mut [0u8; 16]).is_ok());
    })
    .join()
    .unwrap();
}

/// A translator for tests: the "module" of an ELF-looking file is its
/// bytes reversed, repeated to span chunks.
struct Reverse(u32);

impl Translator for Reverse {
    fn version(&self) -> u32 {
        7
    }
    fn translate(&mut self, data: &[u8]) -> Option<Vec<u8>> {
        self.0 += 1;
        let mut v: Vec<u8> = data.iter().rev().copied().collect();
        let r = v.clone();
        while v.len() <= CHUNK_SIZE {
            v.extend_from_slice(&r);
        }
        Some(v)
    }
}

fn elf_like(n: usize, seed: u8) -> Vec<u8> {
    let mut v = b"\x7fELF".to_vec();
    v.extend((0..n).map(|i| (i as u8).wrapping_mul(seed)));
    v
}

#[test]
fn modules_of_elf_files_are_stored_once_and_read_back() {
    let (one, two) = (elf_like(5000, 3), elf_like(7000, 5));
    let mut a = T::new();
    a.file("bin/one", &one)
        .file("bin/copy", &one)
        .file("etc/plain", b"not an ELF file");
    let mut b = T::new();
    b.file("bin/two", &two).file("bin/one-again", &one);
    let mut seen = Seen::new();
    let mut t = Reverse(0);
    let mut blobs = Vec::new();
    let mut indexes = Vec::new();
    for tar in [a.bytes(), b.bytes()] {
        let mut blob = Vec::new();
        let out = write_translated_layer(&tar[..], &mut blob, &mut seen, Some(&mut t), &mut |_| {})
            .expect("write layer");
        let m = &blob[out.index_offset as usize..(out.index_offset + out.index_len) as usize];
        let ix = read_pinned_index(m, &out.index_digest).expect("index");
        assert_eq!(ix.modules.len() as u64, out.modules);
        assert_eq!(ix, Index::decode(&ix.encode()).expect("round trip"));
        blobs.push(blob);
        indexes.push(ix);
    }
    // one module per distinct content in a layer: `one` in each layer,
    // `two`; the second `one` module stores no chunk again
    assert_eq!(t.0, 3);
    assert_eq!(indexes[0].modules.len(), 1);
    assert_eq!(indexes[1].modules.len(), 2);
    let mut fs = Fs::new();
    let (_, modules) = fs
        .apply_friscy_image(&indexes, Box::new(BlobChunks(blobs)))
        .expect("apply");
    assert_eq!(modules.len(), 2);
    let want = Reverse(0).translate(&two).unwrap();
    let got = modules
        .get(&Digest::of(&two).0, 7)
        .expect("module")
        .unwrap();
    assert_eq!(got, want);
    assert!(
        modules.get(&Digest::of(&two).0, 8).is_none(),
        "another version"
    );
    assert!(modules.get(&Digest::of(b"not an ELF file").0, 7).is_none());
    // the files themselves are as they were
    let ino = fs.resolve(ROOT, b"bin/two", true).expect("bin/two");
    let mut buf = vec![0u8; two.len()];
    assert_eq!(fs.read(ino, 0, &mut buf).unwrap(), two.len());
    assert_eq!(buf, two);
}

/// The first bytes of a module read alone are the module's first bytes,
/// across chunk boundaries and past its end.
#[test]
fn a_modules_head_is_its_first_bytes() {
    let big = elf_like(2 * CHUNK_SIZE + 1000, 7);
    let mut a = T::new();
    a.file("bin/big", &big);
    let mut blob = Vec::new();
    let mut t = Reverse(0);
    let out = write_translated_layer(
        &a.bytes()[..],
        &mut blob,
        &mut Seen::new(),
        Some(&mut t),
        &mut |_| {},
    )
    .expect("write layer");
    let m = &blob[out.index_offset as usize..(out.index_offset + out.index_len) as usize];
    let ix = read_pinned_index(m, &out.index_digest).expect("index");
    let (_, modules) = Fs::new()
        .apply_friscy_image(&[ix], Box::new(BlobChunks(vec![blob])))
        .expect("apply");
    let want = Reverse(0).translate(&big).unwrap();
    let key = Digest::of(&big).0;
    for len in [
        0,
        64,
        CHUNK_SIZE - 1,
        CHUNK_SIZE,
        CHUNK_SIZE + 1,
        want.len(),
        want.len() + 5,
    ] {
        let head = modules.get_head(&key, 7, len).expect("module").unwrap();
        assert_eq!(head, want[..len.min(want.len())], "{len}");
    }
}

#[test]
fn format_2_indexes_are_read_and_modules_checked() {
    let ix = Index {
        modules: vec![ModuleEntry {
            elf: Digest([1; 32]),
            version: 3,
            elf_size: 10,
            size: 5,
            chunks: vec![Digest([2; 32])],
        }],
        ..Index::default()
    };
    let mut v2 = Index::default().encode();
    // a format 2 index: version 2, no module list
    v2[8..12].copy_from_slice(&2u32.to_le_bytes());
    v2.truncate(v2.len() - 4);
    assert_eq!(Index::decode(&v2).expect("format 2"), Index::default());
    let mut v4 = ix.encode();
    v4[8..12].copy_from_slice(&4u32.to_le_bytes());
    assert!(Index::decode(&v4).is_err(), "an unknown format");
    // a module whose chunk no layer stores makes the image corrupt
    let err = Fs::new()
        .apply_friscy_image(
            std::slice::from_ref(&ix),
            Box::new(BlobChunks(vec![Vec::new()])),
        )
        .err()
        .expect("refused");
    assert!(err.to_string().contains("no layer stores"), "{err}");
    // counts larger than the index are refused before allocating
    let mut huge = ix.encode();
    let at = huge.len() - (32 + 4 + 8 + 8 + 4 + 32) - 4;
    huge[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(Index::decode(&huge).is_err());
}
