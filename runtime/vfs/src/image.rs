//! The friscy image layer format, version 3 (`docs/image-format.md`).
//!
//! A friscy layer blob is an ordinary gzip-compressed tar, so registries,
//! `docker pull` and `umoci unpack` take it as they take any layer. Inside:
//!
//! * `friscy/c/<sha256>`: one entry per content chunk (at most
//!   [`CHUNK_SIZE`] bytes of some file) that no lower layer of the image, and
//!   no earlier entry of this one, already stores;
//! * `friscy/index`: the layer's [`Index`] — the tree the source layer
//!   described (paths, kinds, modes, owners, times, link targets, devices,
//!   whiteouts, opaque directories) with each file's content as a list of
//!   chunk digests, where this layer's chunks are, and the modules of
//!   translated code made from the layer's ELF files (their bytes stored as
//!   chunks too, read when the ELF is first run).
//!
//! Every tar entry (header, data and padding) is compressed as its own gzip
//! member, and the end-of-archive blocks as one more. A chunk is therefore
//! one HTTP Range read plus one small inflate away, without the rest of the
//! layer. Members are made the same way every time, so converting the same
//! source gives the same bytes, and [`recompress`] can rebuild a layer's
//! exact blob from its uncompressed tar (what `docker save` gives back).

use std::collections::{HashMap, HashSet};
use std::io::{self, Read, Write};
use std::rc::Rc;

use flate2::Compression;
use sha2::{Digest as _, Sha256};

use crate::layer::{Apply, Item, LayerError, LayerStats, Meta, OPAQUE, WHITEOUT, What, read_item};
use crate::{Content, Fs, NewNode, Timespec};

/// The format version this code writes (2: the config pins each index's
/// digest; 3: indexes list modules of translated code).
pub const FORMAT_VERSION: u32 = 3;
/// The format versions this code reads.
pub const FORMAT_VERSIONS: [u32; 2] = [2, 3];
/// The largest chunk of file content, in bytes.
pub const CHUNK_SIZE: usize = 1 << 20;
/// The index's path inside the layer tar.
pub const INDEX_PATH: &str = "friscy/index";
/// The directory of the chunks inside the layer tar.
pub const CHUNK_DIR: &str = "friscy/c/";
/// The directory of the wasm runtime's files inside a runtime layer's tar
/// (see [`write_runtime_layer`]).
pub const RUNTIME_DIR: &str = "friscy/runtime/";
/// gzip level of every member (a fixed level keeps conversion
/// deterministic).
const LEVEL: u32 = 1;
const INDEX_MAGIC: &[u8; 8] = b"FRISCYIX";
const BLOCK: usize = 512;
/// The most bytes after a layer tar's end blocks that are taken as its
/// padding (tar writers pad to a record of 10 KiB; some to more).
const MAX_TRAILER: usize = 1 << 20;
/// The largest index accepted when reading (hostile input bound).
pub const MAX_INDEX_SIZE: usize = 256 << 20;
/// The most bytes a gzip member can take for `n` bytes of tar entry (a
/// header block, the data, padding): level 1 never does worse than stored
/// blocks (5 bytes per 64 KiB), plus the gzip header and trailer.
pub const fn max_member_len(n: usize) -> usize {
    let tar = BLOCK + n.next_multiple_of(BLOCK);
    tar + (tar / 65_535 + 1) * 5 + 64
}
/// The largest chunk member accepted when reading.
pub const MAX_CHUNK_MEMBER: u64 = max_member_len(CHUNK_SIZE) as u64;
/// The largest index member accepted when reading.
pub const MAX_INDEX_MEMBER: u64 = max_member_len(MAX_INDEX_SIZE) as u64;

/// Why a friscy layer could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// The source layer could not be read or is hostile.
    #[error(transparent)]
    Layer(#[from] LayerError),
    /// Writing the output failed.
    #[error("writing the friscy layer: {0}")]
    Io(#[from] io::Error),
    /// A friscy layer or index is not what this version writes.
    #[error("corrupt friscy layer: {0}")]
    Corrupt(String),
    /// Bytes read from an image are not those its digest names.
    #[error("{what} is {actual}, not {expected} as the image says: refused")]
    Mismatch {
        what: String,
        expected: String,
        actual: String,
    },
}

fn corrupt(why: impl Into<String>) -> ImageError {
    ImageError::Corrupt(why.into())
}

/// Bytes hashed per call of the hash function (see [`hash_in_pieces`]).
const HASH_PIECE: usize = 16 << 10;

/// Adds `data` to `h` a piece at a time. Under V8 a wasm function starts on
/// baseline code and is optimized in the background once it has run a
/// while, but a call that is running keeps its code (no on-stack
/// replacement): one call over a whole file would hash all of it at the
/// baseline's speed (about a tenth), in pieces the later calls run the
/// optimized code.
pub fn hash_in_pieces(h: &mut Sha256, data: &[u8]) {
    for piece in data.chunks(HASH_PIECE) {
        h.update(piece);
    }
}

/// A SHA-256 digest.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct Digest(pub [u8; 32]);

impl Digest {
    /// The digest of `data`.
    pub fn of(data: &[u8]) -> Digest {
        let mut h = Sha256::new();
        hash_in_pieces(&mut h, data);
        Digest(h.finalize().into())
    }

    /// Lower-case hex.
    pub fn hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// Where a chunk stored in a layer is.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ChunkLoc {
    pub digest: Digest,
    /// Offset of its gzip member in the layer blob, and the member's length.
    pub offset: u64,
    pub clen: u64,
    /// Offset of its bytes in the uncompressed tar, and their number.
    pub tar_offset: u64,
    pub len: u32,
}

/// What an index entry is.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Kind {
    File {
        size: u64,
        chunks: Vec<Digest>,
    },
    Dir,
    Symlink(Vec<u8>),
    /// A hard link to this path (of this layer or a lower one).
    Link(Vec<u8>),
    Char(u64),
    Block(u64),
    Fifo,
    /// `.wh.NAME`: the path is the whiteout's own.
    Whiteout,
    /// `.wh..wh..opq`: the path is the marker's own.
    Opaque,
}

/// One entry of a layer, in the order of the source tar.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Entry {
    /// Normalised path relative to the root (no leading `/`).
    pub path: Vec<u8>,
    pub kind: Kind,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub mtime: Timespec,
}

/// A module of translated code (`friscy-aot`) for an ELF file's content,
/// stored as chunks like file content.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ModuleEntry {
    /// The sha256 of the whole ELF file it was translated from.
    pub elf: Digest,
    /// The translator's version (a runtime uses only its own).
    pub version: u32,
    /// The ELF file's size (what the module covers).
    pub elf_size: u64,
    pub size: u64,
    pub chunks: Vec<Digest>,
}

/// A layer's index.
#[derive(Clone, Default, PartialEq, Eq, Debug)]
pub struct Index {
    /// The chunks this layer stores.
    pub chunks: Vec<ChunkLoc>,
    pub entries: Vec<Entry>,
    /// Modules of the layer's ELF files (format 3).
    pub modules: Vec<ModuleEntry>,
}

fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}
fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}
fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_u32(out, b.len() as u32);
    out.extend_from_slice(b);
}
/// Content: its size, the number of its chunks and their digests.
fn put_digests(out: &mut Vec<u8>, size: u64, chunks: &[Digest]) {
    put_u64(out, size);
    put_u32(out, chunks.len() as u32);
    for d in chunks {
        out.extend_from_slice(&d.0);
    }
}

/// A bounds-checked reader of an encoded index.
struct Cursor<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], ImageError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&e| e <= self.b.len())
            .ok_or_else(|| corrupt("index cut short"))?;
        let s = &self.b[self.at..end];
        self.at = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, ImageError> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32, ImageError> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4")))
    }
    fn u64(&mut self) -> Result<u64, ImageError> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().expect("8")))
    }
    fn bytes(&mut self) -> Result<Vec<u8>, ImageError> {
        let n = self.u32()? as usize;
        Ok(self.take(n)?.to_vec())
    }
    fn digest(&mut self) -> Result<Digest, ImageError> {
        Ok(Digest(self.take(32)?.try_into().expect("32")))
    }
    /// [`put_digests`]' form: the size and the chunk digests.
    fn digests(&mut self) -> Result<(u64, Vec<Digest>), ImageError> {
        let size = self.u64()?;
        let n = self.u32()? as usize;
        if n.saturating_mul(32) > self.b.len() - self.at {
            return Err(corrupt("chunk list longer than the index"));
        }
        let mut list = Vec::with_capacity(n);
        for _ in 0..n {
            list.push(self.digest()?);
        }
        Ok((size, list))
    }
}

const K_FILE: u8 = 0;
const K_DIR: u8 = 1;
const K_SYMLINK: u8 = 2;
const K_LINK: u8 = 3;
const K_CHAR: u8 = 4;
const K_BLOCK: u8 = 5;
const K_FIFO: u8 = 6;
const K_WHITEOUT: u8 = 7;
const K_OPAQUE: u8 = 8;

impl Index {
    /// The binary form stored as `friscy/index` (little-endian):
    /// magic, version, chunk count, entry count, the chunks
    /// (digest, offset, clen, tar offset, len), then the entries (kind,
    /// mode, uid, gid, mtime seconds and nanoseconds, path, and per kind
    /// the size and chunk digests, the link target or the device number).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(INDEX_MAGIC);
        put_u32(&mut out, FORMAT_VERSION);
        put_u32(&mut out, self.chunks.len() as u32);
        put_u32(&mut out, self.entries.len() as u32);
        for c in &self.chunks {
            out.extend_from_slice(&c.digest.0);
            put_u64(&mut out, c.offset);
            put_u64(&mut out, c.clen);
            put_u64(&mut out, c.tar_offset);
            put_u32(&mut out, c.len);
        }
        for e in &self.entries {
            let kind = match &e.kind {
                Kind::File { .. } => K_FILE,
                Kind::Dir => K_DIR,
                Kind::Symlink(_) => K_SYMLINK,
                Kind::Link(_) => K_LINK,
                Kind::Char(_) => K_CHAR,
                Kind::Block(_) => K_BLOCK,
                Kind::Fifo => K_FIFO,
                Kind::Whiteout => K_WHITEOUT,
                Kind::Opaque => K_OPAQUE,
            };
            out.push(kind);
            put_u32(&mut out, e.mode);
            put_u32(&mut out, e.uid);
            put_u32(&mut out, e.gid);
            put_u64(&mut out, e.mtime.sec as u64);
            put_u32(&mut out, e.mtime.nsec);
            put_bytes(&mut out, &e.path);
            match &e.kind {
                Kind::File { size, chunks } => put_digests(&mut out, *size, chunks),
                Kind::Symlink(t) | Kind::Link(t) => put_bytes(&mut out, t),
                Kind::Char(d) | Kind::Block(d) => put_u64(&mut out, *d),
                Kind::Dir | Kind::Fifo | Kind::Whiteout | Kind::Opaque => {}
            }
        }
        put_u32(&mut out, self.modules.len() as u32);
        for m in &self.modules {
            out.extend_from_slice(&m.elf.0);
            put_u32(&mut out, m.version);
            put_u64(&mut out, m.elf_size);
            put_digests(&mut out, m.size, &m.chunks);
        }
        out
    }

    /// Parses [`Index::encode`]'s form, checking every length.
    pub fn decode(b: &[u8]) -> Result<Index, ImageError> {
        let mut c = Cursor { b, at: 0 };
        if c.take(8)? != INDEX_MAGIC {
            return Err(corrupt("not a friscy index"));
        }
        let version = c.u32()?;
        if !FORMAT_VERSIONS.contains(&version) {
            return Err(corrupt(format!(
                "index format {version}; this friscy reads formats {FORMAT_VERSIONS:?}"
            )));
        }
        let nchunks = c.u32()? as usize;
        let nentries = c.u32()? as usize;
        // every chunk takes 60 bytes and every entry at least 29
        if nchunks.saturating_mul(60) > b.len() || nentries.saturating_mul(29) > b.len() {
            return Err(corrupt("index counts larger than the index"));
        }
        let mut chunks = Vec::with_capacity(nchunks);
        for _ in 0..nchunks {
            let loc = ChunkLoc {
                digest: c.digest()?,
                offset: c.u64()?,
                clen: c.u64()?,
                tar_offset: c.u64()?,
                len: c.u32()?,
            };
            // what a reader allocates for a chunk is bounded here, once
            if loc.len as usize > CHUNK_SIZE || loc.clen > MAX_CHUNK_MEMBER {
                return Err(corrupt(format!(
                    "chunk {} is larger than a chunk can be",
                    loc.digest.hex()
                )));
            }
            chunks.push(loc);
        }
        let mut entries = Vec::with_capacity(nentries);
        for _ in 0..nentries {
            let kind = c.u8()?;
            let mode = c.u32()?;
            let uid = c.u32()?;
            let gid = c.u32()?;
            let sec = c.u64()? as i64;
            let nsec = c.u32()?.min(999_999_999);
            let path = c.bytes()?;
            let kind = match kind {
                K_FILE => {
                    let (size, chunks) = c.digests()?;
                    Kind::File { size, chunks }
                }
                K_DIR => Kind::Dir,
                K_SYMLINK => Kind::Symlink(c.bytes()?),
                K_LINK => Kind::Link(c.bytes()?),
                K_CHAR => Kind::Char(c.u64()?),
                K_BLOCK => Kind::Block(c.u64()?),
                K_FIFO => Kind::Fifo,
                K_WHITEOUT => Kind::Whiteout,
                K_OPAQUE => Kind::Opaque,
                k => return Err(corrupt(format!("unknown entry kind {k}"))),
            };
            entries.push(Entry {
                path,
                kind,
                mode,
                uid,
                gid,
                mtime: Timespec { sec, nsec },
            });
        }
        let mut modules = Vec::new();
        if version >= 3 {
            let n = c.u32()? as usize;
            // every module takes at least 56 bytes
            if n.saturating_mul(56) > b.len() - c.at {
                return Err(corrupt("module count larger than the index"));
            }
            for _ in 0..n {
                let elf = c.digest()?;
                let version = c.u32()?;
                let elf_size = c.u64()?;
                let (size, chunks) = c.digests()?;
                modules.push(ModuleEntry {
                    elf,
                    version,
                    elf_size,
                    size,
                    chunks,
                });
            }
        }
        if c.at != b.len() {
            return Err(corrupt("bytes after the index"));
        }
        Ok(Index {
            chunks,
            entries,
            modules,
        })
    }
}

/// A ustar header for a friscy entry (fixed owner, mode and time, so the
/// output depends on the content only).
fn header(path: &str, size: u64, dir: bool) -> [u8; BLOCK] {
    let mut h = tar::Header::new_ustar();
    // names are short and ASCII: set_path cannot fail for them
    let _ = h.set_path(path);
    h.set_size(size);
    h.set_mode(if dir { 0o755 } else { 0o644 });
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_entry_type(if dir {
        tar::EntryType::Directory
    } else {
        tar::EntryType::Regular
    });
    h.set_cksum();
    let mut out = [0u8; BLOCK];
    out.copy_from_slice(h.as_bytes());
    out
}

/// One gzip member of `data`, made the same way every time.
pub fn compress_member(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::GzBuilder::new()
        .mtime(0)
        .operating_system(255)
        .write(
            Vec::with_capacity(data.len() / 2 + 64),
            Compression::new(LEVEL),
        );
    // writing to a Vec cannot fail
    let _ = enc.write_all(data);
    enc.finish().unwrap_or_default()
}

/// The tar bytes of one entry: header, data, padding to a block.
fn entry_bytes(path: &str, data: &[u8], dir: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(BLOCK + data.len().next_multiple_of(BLOCK));
    out.extend_from_slice(&header(path, data.len() as u64, dir));
    out.extend_from_slice(data);
    out.resize(BLOCK + data.len().next_multiple_of(BLOCK), 0);
    out
}

/// Writes a layer blob member by member, keeping the compressed and
/// uncompressed digests and offsets.
struct BlobWriter<W: Write> {
    out: W,
    blob: Sha256,
    tar: Sha256,
    /// bytes written (compressed) and tar bytes so far
    size: u64,
    tar_size: u64,
}

impl<W: Write> BlobWriter<W> {
    fn new(out: W) -> BlobWriter<W> {
        BlobWriter {
            out,
            blob: Sha256::new(),
            tar: Sha256::new(),
            size: 0,
            tar_size: 0,
        }
    }

    /// A writer that has written the entries every friscy layer starts
    /// with (`friscy/` and `friscy/c/`).
    fn start_layer(out: W) -> io::Result<BlobWriter<W>> {
        let mut w = BlobWriter::new(out);
        w.member(&entry_bytes("friscy/", &[], true))?;
        w.member(&entry_bytes(CHUNK_DIR, &[], true))?;
        Ok(w)
    }

    /// Adds the chunk entry of `data` (whose digest is `d`); returns where
    /// it is.
    fn chunk(&mut self, d: Digest, data: &[u8]) -> io::Result<ChunkLoc> {
        let name = format!("{CHUNK_DIR}{}", d.hex());
        let (offset, clen, tar_at) = self.member(&entry_bytes(&name, data, false))?;
        Ok(ChunkLoc {
            digest: d,
            offset,
            clen,
            tar_offset: tar_at + BLOCK as u64,
            len: data.len() as u32,
        })
    }

    /// Adds the index entry and the end of the tar, and records in
    /// `result` where the index is and the blob's size and digests.
    fn finish_layer(mut self, index: &Index, result: &mut LayerOutput) -> io::Result<()> {
        let tar = entry_bytes(INDEX_PATH, &index.encode(), false);
        let member = compress_member(&tar);
        let (offset, clen, _) = self.put_member(&member, &tar)?;
        result.index_digest = sha256_digest(&member);
        self.member(&[0u8; 2 * BLOCK])?;
        self.out.flush()?;
        result.index_offset = offset;
        result.index_len = clen;
        result.size = self.size;
        result.digest = oci_digest(self.blob);
        result.diff_id = oci_digest(self.tar);
        Ok(())
    }

    /// Adds one member; returns (compressed offset, compressed length,
    /// tar offset).
    fn member(&mut self, tar_bytes: &[u8]) -> io::Result<(u64, u64, u64)> {
        self.put_member(&compress_member(tar_bytes), tar_bytes)
    }

    /// Adds the member `z`, the compressed form of `tar_bytes`.
    fn put_member(&mut self, z: &[u8], tar_bytes: &[u8]) -> io::Result<(u64, u64, u64)> {
        self.out.write_all(z)?;
        self.blob.update(z);
        self.tar.update(tar_bytes);
        let at = (self.size, z.len() as u64, self.tar_size);
        self.size += z.len() as u64;
        self.tar_size += tar_bytes.len() as u64;
        Ok(at)
    }
}

/// `sha256:<hex>`.
fn oci_digest(h: Sha256) -> String {
    let d: [u8; 32] = h.finalize().into();
    format!("sha256:{}", Digest(d).hex())
}

/// What writing one layer made.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LayerOutput {
    /// Digest and size of the blob (gzip), and digest of its tar (diff id).
    pub digest: String,
    pub size: u64,
    pub diff_id: String,
    /// The index's gzip member in the blob: offset, length and digest.
    pub index_offset: u64,
    pub index_len: u64,
    pub index_digest: String,
    /// Entries and regular-file bytes of the source layer.
    pub entries: u64,
    pub file_bytes: u64,
    /// Chunks and chunk bytes stored here; file bytes not stored because
    /// an identical chunk is stored already (in this layer or below).
    pub chunks: u64,
    pub chunk_bytes: u64,
    pub dedup_bytes: u64,
    /// Modules of translated code stored for the layer's ELF files, their
    /// bytes (before dedup) and the bytes of the ELF files they cover.
    pub modules: u64,
    pub module_bytes: u64,
    pub translated_bytes: u64,
}

/// Translates ELF files to modules of wasm while a layer is written
/// (`friscy-aot`; the image format does not depend on what it makes).
pub trait Translator {
    /// The translator's version, stored with each module.
    fn version(&self) -> u32;
    /// The module for the file content `data` (which starts like an ELF
    /// file), or `None` if it is not one the translator takes.
    fn translate(&mut self, data: &[u8]) -> Option<Vec<u8>>;
}

/// The largest file given to a [`Translator`] (held whole in memory).
pub const MAX_TRANSLATED: u64 = 256 << 20;
const ELF_MAGIC: &[u8; 4] = b"\x7fELF";

/// The chunks an image stores so far (lower layers first).
pub type Seen = HashSet<Digest>;

/// Converts one source layer (an uncompressed tar) into a friscy layer
/// blob written to `out`. Chunks in `seen` are not stored again; the new
/// ones are added to it. `progress` is told the source bytes read so far.
/// Hostile or broken tars are refused as [`Fs::apply_layer`] refuses them.
pub fn write_layer<R: Read, W: Write>(
    source: R,
    out: W,
    seen: &mut Seen,
    progress: &mut dyn FnMut(u64),
) -> Result<LayerOutput, ImageError> {
    write_translated_layer(source, out, seen, None, progress)
}

/// [`write_layer`], storing with it the modules `translator` makes of the
/// layer's ELF files (one per distinct content; their chunks are
/// deduplicated against `seen` like file content).
pub fn write_translated_layer<R: Read, W: Write>(
    source: R,
    out: W,
    seen: &mut Seen,
    mut translator: Option<&mut dyn Translator>,
    progress: &mut dyn FnMut(u64),
) -> Result<LayerOutput, ImageError> {
    let mut w = BlobWriter::start_layer(out)?;
    let mut translated: HashSet<Digest> = HashSet::new();
    let mut index = Index::default();
    let mut stats = LayerStats::default();
    let mut result = LayerOutput::default();
    let mut archive = tar::Archive::new(source);
    let mut buf = vec![0u8; CHUNK_SIZE];
    for entry in archive.entries().map_err(LayerError::Io)? {
        let mut entry = entry.map_err(LayerError::Io)?;
        stats.entries += 1;
        let Some(item) = read_item(&mut entry, &mut stats, false)? else {
            continue;
        };
        let path = item.comps.join(&b'/');
        let kind = match item.what {
            What::File(_) => {
                let size = entry.size();
                let mut chunks = Vec::new();
                let mut done = 0u64;
                // an ELF file is kept whole for the translator
                let mut whole: Option<Vec<u8>> = None;
                while done < size {
                    let want = (size - done).min(CHUNK_SIZE as u64) as usize;
                    let piece = &mut buf[..want];
                    entry.read_exact(piece).map_err(|e| {
                        if e.kind() == io::ErrorKind::UnexpectedEof {
                            ImageError::Layer(LayerError::Truncated {
                                path: item.shown.clone(),
                            })
                        } else {
                            ImageError::Layer(LayerError::Io(e))
                        }
                    })?;
                    if done == 0
                        && translator.is_some()
                        && size <= MAX_TRANSLATED
                        && piece.starts_with(ELF_MAGIC)
                    {
                        whole = Some(Vec::with_capacity(size as usize));
                    }
                    if let Some(v) = whole.as_mut() {
                        v.extend_from_slice(piece);
                    }
                    let d = Digest::of(piece);
                    store_chunk(&mut w, seen, &mut index, &mut result, d, piece)?;
                    chunks.push(d);
                    done += want as u64;
                    progress(want as u64);
                }
                result.file_bytes += size;
                if let (Some(t), Some(data)) = (translator.as_deref_mut(), whole) {
                    let elf = Digest::of(&data);
                    if translated.insert(elf)
                        && let Some(wasm) = t.translate(&data)
                    {
                        let mut mchunks = Vec::new();
                        for piece in wasm.chunks(CHUNK_SIZE) {
                            let d = Digest::of(piece);
                            store_chunk(&mut w, seen, &mut index, &mut result, d, piece)?;
                            mchunks.push(d);
                        }
                        index.modules.push(ModuleEntry {
                            elf,
                            version: t.version(),
                            elf_size: size,
                            size: wasm.len() as u64,
                            chunks: mchunks,
                        });
                        result.modules += 1;
                        result.module_bytes += wasm.len() as u64;
                        result.translated_bytes += size;
                    }
                }
                Kind::File { size, chunks }
            }
            What::Dir => Kind::Dir,
            What::Symlink(t) => Kind::Symlink(t),
            What::Link(t) => Kind::Link(t.join(&b'/')),
            What::Node(NewNode::Chr(d)) => Kind::Char(d),
            What::Node(NewNode::Blk(d)) => Kind::Block(d),
            What::Node(_) => Kind::Fifo,
            What::Whiteout(_) => Kind::Whiteout,
            What::Opaque => Kind::Opaque,
            What::Lazy(_) => return Err(corrupt("lazy item from a tar")),
        };
        index.entries.push(Entry {
            path,
            kind,
            mode: item.meta.perm,
            uid: item.meta.uid,
            gid: item.meta.gid,
            mtime: item.meta.mtime,
        });
    }
    w.finish_layer(&index, &mut result)?;
    result.entries = stats.entries;
    Ok(result)
}

/// Where one file of a runtime layer is (see [`write_runtime_layer`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuntimeFile {
    pub name: String,
    /// Its gzip member in the layer blob (the tar header, then the data).
    pub offset: u64,
    pub length: u64,
    /// The file's size and the sha256 of its bytes (`sha256:<hex>`).
    pub size: u64,
    pub digest: String,
}

/// Writes the runtime layer: a friscy layer with an empty tree whose tar
/// also holds `files` (the wasm runtime and the JavaScript it needs) under
/// [`RUNTIME_DIR`], each entry one gzip member, so that a page can read
/// each file with one range request. The blob depends on `files` only:
/// every image made with the same runtime has the same runtime layer, which
/// a registry and a browser cache hold once. Names are plain file names.
pub fn write_runtime_layer<W: Write>(
    files: &[(&str, &[u8])],
    out: W,
) -> Result<(LayerOutput, Vec<RuntimeFile>), ImageError> {
    let mut w = BlobWriter::start_layer(out)?;
    w.member(&entry_bytes(RUNTIME_DIR, &[], true))?;
    let mut placed = Vec::with_capacity(files.len());
    for (name, data) in files {
        let plain = !name.is_empty()
            && name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
            && !name.starts_with('.');
        if !plain {
            return Err(corrupt(format!("{name:?} is not a runtime file name")));
        }
        let (offset, length, _) =
            w.member(&entry_bytes(&format!("{RUNTIME_DIR}{name}"), data, false))?;
        placed.push(RuntimeFile {
            name: (*name).to_owned(),
            offset,
            length,
            size: data.len() as u64,
            digest: sha256_digest(data),
        });
    }
    let mut result = LayerOutput::default();
    w.finish_layer(&Index::default(), &mut result)?;
    Ok((result, placed))
}

/// Stores chunk `d` (`piece`) in the layer unless `seen` has it.
fn store_chunk<W: Write>(
    w: &mut BlobWriter<W>,
    seen: &mut Seen,
    index: &mut Index,
    result: &mut LayerOutput,
    d: Digest,
    piece: &[u8],
) -> io::Result<()> {
    if seen.insert(d) {
        index.chunks.push(w.chunk(d, piece)?);
        result.chunks += 1;
        result.chunk_bytes += piece.len() as u64;
    } else {
        result.dedup_bytes += piece.len() as u64;
    }
    Ok(())
}

/// Writes a friscy layer blob holding `index`'s tree, its chunks read with
/// `chunk` (each checked against its digest), members made as
/// [`write_layer`] makes them and in the index's chunk order: the layer
/// `write_layer` would have made from the same tree. For a friscy layer
/// that another tar writer wrote (BuildKit, for the frontend), to make it
/// lazily readable again.
pub fn rewrite_layer<W: Write>(
    index: &Index,
    chunk: &mut dyn FnMut(&ChunkLoc) -> io::Result<Vec<u8>>,
    out: W,
) -> Result<LayerOutput, ImageError> {
    let mut w = BlobWriter::start_layer(out)?;
    let mut result = LayerOutput::default();
    let mut chunks = Vec::with_capacity(index.chunks.len());
    for loc in &index.chunks {
        let data = chunk(loc)?;
        if data.len() != loc.len as usize || Digest::of(&data) != loc.digest {
            return Err(corrupt(format!(
                "chunk {} does not hold what its name says",
                loc.digest.hex()
            )));
        }
        chunks.push(w.chunk(loc.digest, &data)?);
        result.chunks += 1;
        result.chunk_bytes += u64::from(loc.len);
    }
    let rewritten = Index {
        chunks,
        entries: index.entries.clone(),
        modules: index.modules.clone(),
    };
    for e in &rewritten.entries {
        if let Kind::File { size, .. } = e.kind {
            result.file_bytes += size;
        }
    }
    result.modules = rewritten.modules.len() as u64;
    result.module_bytes = rewritten.modules.iter().map(|m| m.size).sum();
    w.finish_layer(&rewritten, &mut result)?;
    result.entries = rewritten.entries.len() as u64;
    Ok(result)
}

/// Rebuilds a friscy layer blob from its uncompressed tar (member per
/// entry, as [`write_layer`] makes them); returns (digest, size). A tar
/// that friscy did not write comes out valid but with other digests.
pub fn recompress<R: Read, W: Write>(mut tar: R, out: W) -> io::Result<(String, u64)> {
    let mut w = BlobWriter::new(out);
    let mut block = [0u8; BLOCK];
    loop {
        match tar.read_exact(&mut block) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(e),
        }
        if block.iter().all(|&b| b == 0) {
            // end of archive: these zero blocks and whatever follows (a
            // few blocks of padding; not a second archive)
            let mut rest = block.to_vec();
            (&mut tar).take(MAX_TRAILER as u64).read_to_end(&mut rest)?;
            if tar.read(&mut [0u8; 1])? != 0 {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "more than padding after the end of the tar",
                ));
            }
            w.member(&rest)?;
            break;
        }
        let size = tar::Header::from_byte_slice(&block)
            .entry_size()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        // a friscy layer's entries are chunks and its index: nothing larger
        // is read into memory
        let data_len = size
            .checked_next_multiple_of(BLOCK as u64)
            .filter(|&n| n <= MAX_INDEX_SIZE as u64)
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("a tar entry of {size} bytes: larger than a friscy layer holds"),
                )
            })?;
        let mut bytes = block.to_vec();
        (&mut tar).take(data_len as u64).read_to_end(&mut bytes)?;
        if bytes.len() != BLOCK + data_len {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "tar cut short",
            ));
        }
        w.member(&bytes)?;
    }
    w.out.flush()?;
    Ok((oci_digest(w.blob), w.size))
}

/// The data of one entry's gzip member as [`write_layer`] makes it: the
/// bytes after the tar header, as many as the header says (at most `max`).
pub fn member_data(member: &[u8], max: usize) -> io::Result<Vec<u8>> {
    let bad = |why: &str| io::Error::new(io::ErrorKind::InvalidData, why.to_owned());
    let mut z = flate2::read::GzDecoder::new(member);
    let mut h = [0u8; BLOCK];
    z.read_exact(&mut h)
        .map_err(|_| bad("friscy member without a tar header"))?;
    let size = tar::Header::from_byte_slice(&h)
        .entry_size()
        .map_err(|_| bad("friscy member with a broken tar header"))?;
    let size = usize::try_from(size)
        .ok()
        .filter(|&n| n <= max)
        .ok_or_else(|| bad("friscy member larger than expected"))?;
    // grown as the data inflates: the header's size is the input's word
    let mut out = Vec::new();
    z.take(size as u64).read_to_end(&mut out)?;
    if out.len() != size {
        return Err(bad("friscy member cut short"));
    }
    Ok(out)
}

/// Reads a layer's index from its gzip member (the range the image config
/// records for the layer), unchecked: for members friscy has just written
/// or whose digest was checked another way. See [`read_pinned_index`].
pub fn read_index(member: &[u8]) -> Result<Index, ImageError> {
    let data = member_data(member, MAX_INDEX_SIZE)?;
    Index::decode(&data)
}

/// `sha256:<hex>` of `bytes`, as OCI digests are written.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", Digest::of(bytes).hex())
}

/// Reads a layer's index from its gzip member, which must have the digest
/// `digest` (`sha256:<hex>`, what the image config pins): the index then
/// names the digest of every chunk, so every byte of every file chains up
/// to the manifest. Natively and in the page alike.
pub fn read_pinned_index(member: &[u8], digest: &str) -> Result<Index, ImageError> {
    let actual = sha256_digest(member);
    if actual != digest {
        return Err(ImageError::Mismatch {
            what: "the layer's index".to_owned(),
            expected: if digest.is_empty() {
                "pinned by the config".to_owned()
            } else {
                digest.to_owned()
            },
            actual,
        });
    }
    read_index(member)
}

/// A [`ChunkSource`] over whole layer blobs in memory (or any bytes that
/// hold them), for tests and small images.
pub struct BlobChunks(pub Vec<Vec<u8>>);

impl ChunkSource for BlobChunks {
    fn chunk(&self, layer: usize, loc: &ChunkLoc) -> io::Result<Vec<u8>> {
        let blob = self.0.get(layer).ok_or(io::ErrorKind::NotFound)?;
        let member = usize::try_from(loc.offset)
            .ok()
            .zip(usize::try_from(loc.offset.saturating_add(loc.clen)).ok())
            .and_then(|(a, b)| blob.get(a..b))
            .ok_or(io::ErrorKind::UnexpectedEof)?;
        member_data(member, loc.len as usize)
    }
}

/// Reads chunk bytes for the lazy files of a friscy image.
pub trait ChunkSource {
    /// The bytes of `loc`, stored in layer number `layer` (lowest is 0).
    fn chunk(&self, layer: usize, loc: &ChunkLoc) -> io::Result<Vec<u8>>;

    /// Told when what [`ChunkSource::chunk`] gave was refused (`why`): the
    /// guest only sees EIO, so this is where the user hears of a corrupt
    /// or tampered image. Says nothing by default.
    fn refused(&self, _layer: usize, _loc: &ChunkLoc, _why: &str) {}
}

/// Every chunk of an image: where it is and how to get it.
struct Store {
    source: Box<dyn ChunkSource>,
    chunks: HashMap<Digest, (usize, ChunkLoc)>,
}

impl Store {
    fn load(&self, d: &Digest) -> io::Result<Vec<u8>> {
        let (layer, loc) = self
            .chunks
            .get(d)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "chunk not in the image"))?;
        let data = self.source.chunk(*layer, loc).inspect_err(|e| {
            if e.kind() == io::ErrorKind::InvalidData {
                self.source.refused(*layer, loc, &e.to_string());
            }
        })?;
        if data.len() != loc.len as usize || Digest::of(&data) != *d {
            let why = format!(
                "chunk {} of layer {} does not match its digest: the image is corrupt or was tampered with",
                d.hex(),
                layer + 1
            );
            self.source.refused(*layer, loc, &why);
            return Err(io::Error::new(io::ErrorKind::InvalidData, why));
        }
        Ok(data)
    }
}

/// A file of a friscy image, read on first use.
struct LazyFile {
    size: u64,
    chunks: Vec<Digest>,
    store: Rc<Store>,
}

impl Content for LazyFile {
    fn size(&self) -> u64 {
        self.size
    }

    fn load(&self) -> io::Result<Vec<u8>> {
        let mut out = Vec::with_capacity(usize::try_from(self.size).unwrap_or(0));
        for d in &self.chunks {
            out.extend_from_slice(&self.store.load(d)?);
        }
        if out.len() as u64 != self.size {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "file content does not match its size",
            ));
        }
        Ok(out)
    }
}

impl LazyFile {
    /// The first `len` bytes (all of them if there are fewer), reading
    /// only the chunks that hold them.
    fn load_head(&self, len: usize) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        for d in &self.chunks {
            if out.len() >= len {
                break;
            }
            out.extend_from_slice(&self.store.load(d)?);
        }
        out.truncate(len);
        Ok(out)
    }
}

/// The modules of translated code a friscy image stores, read on first
/// use, by the content of the ELF file they were made from.
#[derive(Default)]
pub struct Modules {
    by_elf: HashMap<(Digest, u32), LazyFile>,
}

impl Modules {
    /// The module translator `version` made of the ELF file whose sha256
    /// is `elf`: `None` if the image has none, else its bytes (each chunk
    /// checked against its digest) or why they could not be read.
    pub fn get(&self, elf: &[u8; 32], version: u32) -> Option<io::Result<Vec<u8>>> {
        Some(self.by_elf.get(&(Digest(*elf), version))?.load())
    }

    /// The first `len` bytes of that module (fewer if it is shorter):
    /// only the chunks that hold them are read and checked.
    pub fn get_head(
        &self,
        elf: &[u8; 32],
        version: u32,
        len: usize,
    ) -> Option<io::Result<Vec<u8>>> {
        Some(self.by_elf.get(&(Digest(*elf), version))?.load_head(len))
    }

    /// How many modules there are (of any version).
    pub fn len(&self) -> usize {
        self.by_elf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_elf.is_empty()
    }
}

/// Checks that every chunk of content of `size` bytes is stored, and that
/// they add up to the size: its lazy reader, or why the image is corrupt.
fn lazy_content(
    store: &Rc<Store>,
    shown: &str,
    size: u64,
    chunks: &[Digest],
) -> Result<LazyFile, ImageError> {
    if let Some(d) = chunks.iter().find(|d| !store.chunks.contains_key(d)) {
        return Err(corrupt(format!(
            "{shown:?} names chunk {} that no layer stores",
            d.hex()
        )));
    }
    let total: u64 = chunks
        .iter()
        .map(|d| u64::from(store.chunks[d].1.len))
        .sum();
    if total != size {
        return Err(corrupt(format!("{shown:?}: chunks and size differ")));
    }
    Ok(LazyFile {
        size,
        chunks: chunks.to_vec(),
        store: store.clone(),
    })
}

impl Fs {
    /// Builds the tree of a friscy image from its layers' indexes (lowest
    /// first), with OCI layer semantics; file contents are read through
    /// `source` when first used. Every chunk a file names must be stored in
    /// some layer, else the image is refused as corrupt.
    pub fn apply_friscy_layers(
        &mut self,
        indexes: &[Index],
        source: Box<dyn ChunkSource>,
    ) -> Result<LayerStats, ImageError> {
        self.apply_friscy_image(indexes, source)
            .map(|(stats, _)| stats)
    }

    /// [`Fs::apply_friscy_layers`], also giving the image's modules of
    /// translated code (checked as file content is).
    pub fn apply_friscy_image(
        &mut self,
        indexes: &[Index],
        source: Box<dyn ChunkSource>,
    ) -> Result<(LayerStats, Modules), ImageError> {
        let mut chunks = HashMap::new();
        for (n, ix) in indexes.iter().enumerate() {
            for c in &ix.chunks {
                chunks.entry(c.digest).or_insert((n, *c));
            }
        }
        let store = Rc::new(Store { source, chunks });
        let mut modules = Modules::default();
        for ix in indexes {
            for m in &ix.modules {
                let shown = format!("module of {}", m.elf.hex());
                let lazy = lazy_content(&store, &shown, m.size, &m.chunks)?;
                modules.by_elf.entry((m.elf, m.version)).or_insert(lazy);
            }
        }
        let mut stats = LayerStats::default();
        for ix in indexes {
            let mut st = Apply::default();
            for e in &ix.entries {
                stats.entries += 1;
                let shown = String::from_utf8_lossy(&e.path).into_owned();
                let comps = crate::layer::normalize(&e.path)
                    .ok_or_else(|| corrupt(format!("{shown:?} escapes the root")))?;
                let meta = Meta {
                    perm: e.mode & 0o7777,
                    uid: e.uid,
                    gid: e.gid,
                    mtime: e.mtime,
                };
                let base = comps.last().map(Vec::as_slice).unwrap_or_default();
                let what = match &e.kind {
                    Kind::File { size, chunks } => {
                        let lazy = lazy_content(&store, &shown, *size, chunks)?;
                        stats.bytes += size;
                        What::Lazy(Rc::new(lazy))
                    }
                    Kind::Dir => What::Dir,
                    Kind::Symlink(t) => What::Symlink(t.clone()),
                    Kind::Link(t) => {
                        let t = crate::layer::normalize(t)
                            .filter(|t| !t.is_empty())
                            .ok_or_else(|| corrupt(format!("{shown:?}: bad link target")))?;
                        What::Link(t)
                    }
                    Kind::Char(d) => What::Node(NewNode::Chr(*d)),
                    Kind::Block(d) => What::Node(NewNode::Blk(*d)),
                    Kind::Fifo => What::Node(NewNode::Fifo),
                    Kind::Whiteout => match base.strip_prefix(WHITEOUT) {
                        Some(name) if !name.is_empty() => What::Whiteout(name.to_vec()),
                        _ => return Err(corrupt(format!("{shown:?} is not a whiteout"))),
                    },
                    Kind::Opaque if base == OPAQUE => What::Opaque,
                    Kind::Opaque => return Err(corrupt(format!("{shown:?} is not opaque"))),
                };
                self.apply_item(
                    &mut st,
                    Item {
                        shown,
                        comps,
                        what,
                        meta,
                    },
                )?;
            }
            self.finish(&st);
        }
        Ok((stats, modules))
    }
}

#[cfg(test)]
mod tests;
