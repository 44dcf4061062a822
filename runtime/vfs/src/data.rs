//! Sparse, chunked storage for the bytes of a regular file.
//!
//! A file is a logical size plus a map from chunk index to the bytes of that
//! chunk. A chunk holds at most [`CHUNK`] bytes and may be shorter than that:
//! bytes that are inside the file but not stored anywhere (missing chunks,
//! or past the end of a short chunk) read as zeros. Holes therefore cost
//! nothing, and `truncate` to a large size is free. No chunk ever holds bytes
//! at or beyond the logical size.
//!
//! The bytes chunks hold are charged to the thread's memory budget
//! (`friscy_budget`, the container's memory limit) for as long as they are
//! held: a write that would go past the limit fails with ENOSPC, as on a
//! full tmpfs, and a layer whose files do not fit is refused.

use std::collections::BTreeMap;
use std::io::{self, Read};

use crate::errno::{EFBIG, ENOSPC};
use crate::{MAX_FILE_SIZE, VResult};

/// Bytes per chunk.
pub(crate) const CHUNK: usize = 64 * 1024;
const CHUNK_U64: u64 = CHUNK as u64;

/// The bytes of one regular file.
#[derive(Default, Debug)]
pub(crate) struct Chunks {
    size: u64,
    map: BTreeMap<u64, Vec<u8>>,
    /// Bytes the chunks hold, charged to the memory budget.
    held: u64,
}

impl Clone for Chunks {
    fn clone(&self) -> Chunks {
        friscy_budget::charge(self.held);
        Chunks {
            size: self.size,
            map: self.map.clone(),
            held: self.held,
        }
    }
}

impl Drop for Chunks {
    fn drop(&mut self) {
        friscy_budget::release(self.held);
    }
}

/// The error for bytes that do not fit the memory limit.
fn over_budget() -> io::Error {
    io::Error::new(
        io::ErrorKind::OutOfMemory,
        format!(
            "the files need more than the memory limit of {}",
            friscy_budget::describe(friscy_budget::limit().unwrap_or(u64::MAX))
        ),
    )
}

/// Splits a file offset into (chunk index, offset inside the chunk).
fn split(offset: u64) -> (u64, usize) {
    // The remainder is below CHUNK, so it always fits in usize.
    let within = usize::try_from(offset % CHUNK_U64).unwrap_or(0);
    (offset / CHUNK_U64, within)
}

impl Chunks {
    /// The logical size of the file.
    pub(crate) fn size(&self) -> u64 {
        self.size
    }

    /// Bytes of storage in use, rounded up per chunk to 4 KiB pages.
    pub(crate) fn allocated(&self) -> u64 {
        self.map
            .values()
            .map(|c| (c.len() as u64).div_ceil(4096) * 4096)
            .sum()
    }

    /// Builds file contents from a byte vector; all-zero chunks become
    /// holes. The bytes kept are charged whatever the limit (the caller
    /// checks for room first: the vector exists already).
    pub(crate) fn from_vec(data: Vec<u8>) -> Chunks {
        let size = data.len() as u64;
        let mut map = BTreeMap::new();
        if data.len() <= CHUNK {
            if data.iter().any(|&b| b != 0) {
                map.insert(0, data);
            }
        } else {
            for (idx, piece) in (0u64..).zip(data.chunks(CHUNK)) {
                if piece.iter().any(|&b| b != 0) {
                    map.insert(idx, piece.to_vec());
                }
            }
        }
        let held = map.values().map(|c| c.len() as u64).sum();
        friscy_budget::charge(held);
        Chunks { size, map, held }
    }

    /// Reads a whole stream into chunks, at most `limit` bytes; all-zero
    /// chunks become holes. Never allocates more than one chunk ahead of the
    /// data actually read, whatever the stream claims about its length.
    /// Fails with `InvalidData` if the stream holds more than `limit` bytes.
    pub(crate) fn from_reader<R: Read>(mut r: R, limit: u64) -> io::Result<Chunks> {
        let mut out = Chunks::default();
        let mut buf = vec![0u8; CHUNK];
        let mut idx = 0u64;
        loop {
            let mut filled = 0;
            while filled < CHUNK {
                match r.read(&mut buf[filled..]) {
                    Ok(0) => break,
                    Ok(n) => filled += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            if filled == 0 {
                return Ok(out);
            }
            let new_size = out.size + filled as u64;
            if new_size > limit {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "file larger than the limit",
                ));
            }
            if buf[..filled].iter().any(|&b| b != 0) {
                if !friscy_budget::try_charge(filled as u64) {
                    return Err(over_budget());
                }
                out.held += filled as u64;
                out.map.insert(idx, buf[..filled].to_vec());
            }
            out.size = new_size;
            idx += 1;
            if filled < CHUNK {
                return Ok(out);
            }
        }
    }

    /// Copies bytes at `offset` into `buf`; returns how many (0 at/after EOF).
    pub(crate) fn read(&self, offset: u64, buf: &mut [u8]) -> usize {
        if offset >= self.size || buf.is_empty() {
            return 0;
        }
        let avail = self.size - offset;
        let n = usize::try_from(avail).map_or(buf.len(), |a| a.min(buf.len()));
        let out = &mut buf[..n];
        out.fill(0);
        let end = offset + n as u64;
        let first = offset / CHUNK_U64;
        let last = (end - 1) / CHUNK_U64;
        for (&idx, chunk) in self.map.range(first..=last) {
            let chunk_start = idx * CHUNK_U64;
            let chunk_end = chunk_start + chunk.len() as u64;
            let from = offset.max(chunk_start);
            let to = end.min(chunk_end);
            if from >= to {
                continue;
            }
            // All of these differences are below CHUNK or below n.
            let src = (from - chunk_start) as usize..(to - chunk_start) as usize;
            let dst = (from - offset) as usize..(to - offset) as usize;
            out[dst].copy_from_slice(&chunk[src]);
        }
        n
    }

    /// Writes `data` at `offset`, extending the file (with a hole) as needed.
    /// Writes that would go past [`MAX_FILE_SIZE`] are shortened; a write
    /// starting at or past it fails with EFBIG. Returns the bytes written.
    pub(crate) fn write(&mut self, offset: u64, data: &[u8]) -> VResult<usize> {
        if data.is_empty() {
            return Ok(0);
        }
        if offset >= MAX_FILE_SIZE {
            return Err(EFBIG);
        }
        let room = MAX_FILE_SIZE - offset;
        let n = usize::try_from(room).map_or(data.len(), |r| r.min(data.len()));
        let data = &data[..n];
        let mut pos = offset;
        let mut rest = data;
        while !rest.is_empty() {
            let (idx, within) = split(pos);
            let take = (CHUNK - within).min(rest.len());
            let chunk = self.map.entry(idx).or_default();
            let need = within + take;
            if chunk.len() < need {
                let grow = (need - chunk.len()) as u64;
                if !friscy_budget::try_charge(grow) {
                    // a write that was partly done says how much it did
                    let done = data.len() - rest.len();
                    if chunk.is_empty() {
                        self.map.remove(&idx);
                    }
                    self.size = self.size.max(offset + done as u64);
                    return if done > 0 { Ok(done) } else { Err(ENOSPC) };
                }
                if chunk.try_reserve_exact(need - chunk.len()).is_err() {
                    friscy_budget::release(grow);
                    return Err(ENOSPC);
                }
                self.held += grow;
                chunk.resize(need, 0);
            }
            chunk[within..need].copy_from_slice(&rest[..take]);
            rest = &rest[take..];
            pos += take as u64;
        }
        self.size = self.size.max(offset + n as u64);
        Ok(n)
    }

    /// Sets the logical size; shrinking drops the bytes past `len`.
    pub(crate) fn truncate(&mut self, len: u64) -> VResult<()> {
        if len > MAX_FILE_SIZE {
            return Err(EFBIG);
        }
        if len < self.size {
            let (idx, within) = split(len);
            // Drop every chunk that starts at or after `len`.
            let first_gone = if within == 0 { idx } else { idx + 1 };
            let mut freed: u64 = self
                .map
                .split_off(&first_gone)
                .values()
                .map(|c| c.len() as u64)
                .sum();
            if within != 0
                && let Some(chunk) = self.map.get_mut(&idx)
                && chunk.len() > within
            {
                freed += (chunk.len() - within) as u64;
                chunk.truncate(within);
            }
            self.held -= freed;
            friscy_budget::release(freed);
        }
        self.size = len;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holes_read_as_zero_and_cost_nothing() {
        let mut c = Chunks::default();
        assert_eq!(c.write(3 * CHUNK_U64 + 10, b"abc"), Ok(3));
        assert_eq!(c.size(), 3 * CHUNK_U64 + 13);
        assert_eq!(c.map.len(), 1);
        let mut buf = [0xffu8; 20];
        assert_eq!(c.read(3 * CHUNK_U64, &mut buf), 13);
        assert_eq!(&buf[..13], b"\0\0\0\0\0\0\0\0\0\0abc");
        assert_eq!(buf[13], 0xff);
    }

    #[test]
    fn write_spanning_chunks() {
        let mut c = Chunks::default();
        let data: Vec<u8> = (0..3 * CHUNK + 7).map(|i| (i % 251) as u8 + 1).collect();
        assert_eq!(c.write(5, &data), Ok(data.len()));
        let mut back = vec![0u8; data.len() + 100];
        assert_eq!(c.read(5, &mut back), data.len());
        assert_eq!(&back[..data.len()], &data[..]);
        let mut head = [9u8; 5];
        assert_eq!(c.read(0, &mut head), 5);
        assert_eq!(head, [0; 5]);
    }

    #[test]
    fn truncate_drops_and_zero_extends() {
        let mut c = Chunks::from_vec(vec![7u8; CHUNK + 100]);
        c.truncate(10).unwrap();
        assert_eq!(c.size(), 10);
        assert_eq!(c.map.len(), 1);
        c.truncate(CHUNK_U64 * 2).unwrap();
        let mut buf = [1u8; 20];
        assert_eq!(c.read(0, &mut buf), 20);
        assert_eq!(&buf[..10], &[7u8; 10]);
        assert_eq!(&buf[10..], &[0u8; 10]);
        // Truncating to an exact chunk boundary keeps the earlier chunk.
        let mut d = Chunks::from_vec(vec![3u8; 2 * CHUNK]);
        d.truncate(CHUNK_U64).unwrap();
        assert_eq!(d.map.len(), 1);
        assert_eq!(d.map[&0].len(), CHUNK);
    }

    #[test]
    fn limits() {
        let mut c = Chunks::default();
        assert_eq!(c.write(MAX_FILE_SIZE, b"x"), Err(EFBIG));
        assert_eq!(c.write(MAX_FILE_SIZE - 2, b"xyz"), Ok(2));
        assert_eq!(c.size(), MAX_FILE_SIZE);
        assert_eq!(c.truncate(MAX_FILE_SIZE + 1), Err(EFBIG));
        assert_eq!(c.write(0, b""), Ok(0));
    }

    /// File bytes are charged to the thread's memory budget while held:
    /// past its limit a write stops (ENOSPC when nothing fit), a stream
    /// is refused, and dropping or truncating gives the room back.
    #[test]
    fn file_bytes_count_against_the_memory_limit() {
        std::thread::spawn(|| {
            friscy_budget::set_limit(Some(3 * CHUNK_U64));
            let mut c = Chunks::default();
            assert_eq!(c.write(0, &vec![1u8; 2 * CHUNK]), Ok(2 * CHUNK));
            assert_eq!(friscy_budget::used(), 2 * CHUNK_U64);
            // a write that only partly fits says how much it wrote
            assert_eq!(c.write(2 * CHUNK_U64, &vec![2u8; 2 * CHUNK]), Ok(CHUNK));
            assert_eq!(c.size(), 3 * CHUNK_U64);
            assert_eq!(c.write(3 * CHUNK_U64, b"x"), Err(ENOSPC));
            // overwriting held bytes needs no room; holes cost nothing
            assert_eq!(c.write(10, b"abc"), Ok(3));
            let mut d = c.clone();
            assert_eq!(friscy_budget::used(), 6 * CHUNK_U64);
            d.truncate(0).unwrap();
            assert_eq!(friscy_budget::used(), 3 * CHUNK_U64);
            c.truncate(CHUNK_U64 + 5).unwrap();
            assert_eq!(friscy_budget::used(), CHUNK_U64 + 5);
            // a stream of non-zero bytes larger than the room: refused
            let bomb = vec![7u8; 4 * CHUNK];
            let err = Chunks::from_reader(&bomb[..], u64::MAX).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::OutOfMemory);
            assert!(err.to_string().contains("memory limit"), "{err}");
            assert_eq!(friscy_budget::used(), CHUNK_U64 + 5);
            drop((c, d));
            assert_eq!(friscy_budget::used(), 0);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn from_reader_makes_holes_and_enforces_limit() {
        let mut data = vec![0u8; 3 * CHUNK];
        data[2 * CHUNK + 1] = 5;
        let c = Chunks::from_reader(&data[..], u64::MAX).unwrap();
        assert_eq!(c.size(), 3 * CHUNK_U64);
        assert_eq!(c.map.keys().copied().collect::<Vec<_>>(), vec![2]);
        assert!(Chunks::from_reader(&data[..], 100).is_err());
        let empty = Chunks::from_reader(&b""[..], 0).unwrap();
        assert_eq!(empty.size(), 0);
    }
}
