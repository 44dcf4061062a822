//! ELF64 parsing and loading for riscv64 executables.

use friscy_machine::{CodeImage, Memory, PAGE_SIZE, Perm};
use thiserror::Error;

const EM_RISCV: u16 = 243;
const ET_EXEC: u16 = 2;
const ET_DYN: u16 = 3;
pub const PT_LOAD: u32 = 1;
pub const PT_INTERP: u32 = 3;
pub const PT_PHDR: u32 = 6;
const PF_X: u32 = 1;
const PF_W: u32 = 2;
const PF_R: u32 = 4;
const EHDR_SIZE: usize = 64;
pub const PHDR_SIZE: usize = 56;

/// Why a file cannot be loaded.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ElfError {
    #[error("not an ELF file")]
    NotElf,
    #[error("not a 64-bit little-endian ELF file")]
    WrongClass,
    #[error("built for machine {0}, not riscv64 (243)")]
    WrongMachine(u16),
    #[error("ELF type {0} is neither an executable nor a shared object")]
    WrongType(u16),
    #[error("truncated or malformed ELF: {0}")]
    Malformed(&'static str),
    #[error("segment at {0:#x} does not fit the address space")]
    BadAddress(u64),
}

/// A program header.
#[derive(Clone, Copy, Debug)]
pub struct Phdr {
    pub kind: u32,
    pub flags: u32,
    pub offset: u64,
    pub vaddr: u64,
    pub filesz: u64,
    pub memsz: u64,
}

/// A parsed ELF file.
#[derive(Debug)]
pub struct Elf<'a> {
    pub data: &'a [u8],
    pub kind: u16,
    pub entry: u64,
    pub phoff: u64,
    pub phnum: u16,
    pub phdrs: Vec<Phdr>,
}

/// `N` bytes of `d` at `off`, if they are all inside it (no offset from
/// the file can overflow here).
fn bytes_at<const N: usize>(d: &[u8], off: usize) -> Result<[u8; N], ElfError> {
    off.checked_add(N)
        .and_then(|end| d.get(off..end))
        .and_then(|b| b.try_into().ok())
        .ok_or(ElfError::Malformed("header"))
}

fn u16_at(d: &[u8], off: usize) -> Result<u16, ElfError> {
    bytes_at(d, off).map(u16::from_le_bytes)
}

fn u32_at(d: &[u8], off: usize) -> Result<u32, ElfError> {
    bytes_at(d, off).map(u32::from_le_bytes)
}

fn u64_at(d: &[u8], off: usize) -> Result<u64, ElfError> {
    bytes_at(d, off).map(u64::from_le_bytes)
}

/// Highest user address + 1 (Sv39, as Linux riscv64 uses by default).
pub const TASK_SIZE: u64 = 0x40_0000_0000;

impl<'a> Elf<'a> {
    pub fn parse(data: &'a [u8]) -> Result<Elf<'a>, ElfError> {
        if data.len() < 4 || &data[..4] != b"\x7fELF" {
            return Err(ElfError::NotElf);
        }
        if data.len() < EHDR_SIZE {
            return Err(ElfError::Malformed("header"));
        }
        if data[4] != 2 || data[5] != 1 {
            return Err(ElfError::WrongClass);
        }
        let kind = u16_at(data, 16)?;
        let machine = u16_at(data, 18)?;
        if machine != EM_RISCV {
            return Err(ElfError::WrongMachine(machine));
        }
        if kind != ET_EXEC && kind != ET_DYN {
            return Err(ElfError::WrongType(kind));
        }
        let entry = u64_at(data, 24)?;
        let phoff = u64_at(data, 32)?;
        let phentsize = u16_at(data, 54)?;
        let phnum = u16_at(data, 56)?;
        if usize::from(phentsize) != PHDR_SIZE {
            return Err(ElfError::Malformed("program header size"));
        }
        let mut phdrs = Vec::with_capacity(usize::from(phnum));
        for i in 0..usize::from(phnum) {
            let off = usize::try_from(phoff)
                .ok()
                .and_then(|o| o.checked_add(i * PHDR_SIZE))
                .ok_or(ElfError::Malformed("program header offset"))?;
            if off
                .checked_add(PHDR_SIZE)
                .is_none_or(|end| end > data.len())
            {
                return Err(ElfError::Malformed(
                    "program headers past the end of the file",
                ));
            }
            let ph = Phdr {
                kind: u32_at(data, off)?,
                flags: u32_at(data, off + 4)?,
                offset: u64_at(data, off + 8)?,
                vaddr: u64_at(data, off + 16)?,
                filesz: u64_at(data, off + 32)?,
                memsz: u64_at(data, off + 40)?,
            };
            if ph.kind == PT_LOAD {
                if ph.filesz > ph.memsz {
                    return Err(ElfError::Malformed("segment file size exceeds memory size"));
                }
                let end = ph.offset.checked_add(ph.filesz);
                if end.is_none_or(|e| e > data.len() as u64) {
                    return Err(ElfError::Malformed("segment past the end of the file"));
                }
                // a segment that cannot fit below TASK_SIZE at any base:
                // refused here, so no address sum below can overflow
                if ph.vaddr.checked_add(ph.memsz).is_none_or(|e| e > TASK_SIZE) {
                    return Err(ElfError::BadAddress(ph.vaddr));
                }
            }
            phdrs.push(ph);
        }
        if !phdrs.iter().any(|p| p.kind == PT_LOAD) {
            return Err(ElfError::Malformed("no loadable segment"));
        }
        Ok(Elf {
            data,
            kind,
            entry,
            phoff,
            phnum,
            phdrs,
        })
    }

    /// Whether the file must be placed at a base address of our choosing.
    pub fn is_dyn(&self) -> bool {
        self.kind == ET_DYN
    }

    /// The PT_INTERP path, if any.
    pub fn interp(&self) -> Result<Option<&'a [u8]>, ElfError> {
        let Some(p) = self.phdrs.iter().find(|p| p.kind == PT_INTERP) else {
            return Ok(None);
        };
        let start = usize::try_from(p.offset).map_err(|_| ElfError::Malformed("interp"))?;
        let len = usize::try_from(p.filesz).map_err(|_| ElfError::Malformed("interp"))?;
        let bytes = self
            .data
            .get(start..start.saturating_add(len))
            .ok_or(ElfError::Malformed("interp"))?;
        Ok(Some(bytes.split(|&b| b == 0).next().unwrap_or(bytes)))
    }

    /// Lowest and highest (page-rounded) addresses of the loadable segments.
    pub fn span(&self) -> (u64, u64) {
        let mut lo = u64::MAX;
        let mut hi = 0;
        for p in self.phdrs.iter().filter(|p| p.kind == PT_LOAD) {
            lo = lo.min(p.vaddr & !(PAGE_SIZE - 1));
            hi = hi.max(p.vaddr.saturating_add(p.memsz));
        }
        (lo, hi.div_ceil(PAGE_SIZE) * PAGE_SIZE)
    }
}

/// Where an ELF ended up in memory.
#[derive(Clone, Copy, Debug)]
pub struct Loaded {
    /// Added to every vaddr (0 for ET_EXEC).
    pub bias: u64,
    pub entry: u64,
    /// Guest address of the program headers.
    pub phdr: u64,
    pub phnum: u64,
    /// End of the highest segment (where brk starts).
    pub end: u64,
}

/// The sha256 of a file's content: what names the module translated ahead
/// of time from it (`friscy_machine::aot`).
pub fn content_key(data: &[u8]) -> [u8; 32] {
    friscy_vfs::image::Digest::of(data).0
}

/// Records the executable segments of `elf`, loaded at `bias`, as images
/// of the file's code (when files' modules are in use), so that its module
/// may run there while they are unchanged.
pub fn add_code_images(elf: &Elf<'_>, mem: &mut Memory, bias: u64) {
    if !friscy_machine::aot::active() {
        return;
    }
    let key = content_key(elf.data);
    for p in elf
        .phdrs
        .iter()
        .filter(|p| p.kind == PT_LOAD && p.flags & PF_X != 0 && p.filesz > 0)
    {
        let Some(start) = p.vaddr.checked_add(bias) else {
            continue;
        };
        let Some(end) = start.checked_add(p.filesz) else {
            continue;
        };
        mem.add_code_image(CodeImage {
            start: start & !(PAGE_SIZE - 1),
            end: end.div_ceil(PAGE_SIZE) * PAGE_SIZE,
            file_offset: p.offset & !(PAGE_SIZE - 1),
            key,
        });
    }
}

/// Maps the loadable segments of `elf` at `bias`.
pub fn load(elf: &Elf<'_>, mem: &mut Memory, bias: u64) -> Result<Loaded, ElfError> {
    let mut end = 0;
    let mut phdr = None;
    for p in &elf.phdrs {
        if p.kind == PT_PHDR {
            phdr = Some(p.vaddr.wrapping_add(bias));
        }
        if p.kind != PT_LOAD || p.memsz == 0 {
            continue;
        }
        let vaddr = p
            .vaddr
            .checked_add(bias)
            .ok_or(ElfError::BadAddress(p.vaddr))?;
        let seg_end = vaddr
            .checked_add(p.memsz)
            .ok_or(ElfError::BadAddress(p.vaddr))?;
        if seg_end > TASK_SIZE || vaddr < PAGE_SIZE {
            return Err(ElfError::BadAddress(vaddr));
        }
        let start = vaddr & !(PAGE_SIZE - 1);
        let stop = seg_end.div_ceil(PAGE_SIZE) * PAGE_SIZE;
        let mut perm = Perm::NONE;
        if p.flags & PF_R != 0 {
            perm = perm | Perm::R;
        }
        if p.flags & PF_W != 0 {
            perm = perm | Perm::W;
        }
        if p.flags & PF_X != 0 {
            perm = perm | Perm::X;
        }
        // Segments may share a page: keep the union of permissions where
        // something is mapped already, map the gaps. (Region by region,
        // never page by page: a hostile memsz may span the address space.)
        let overlaps: Vec<(u64, u64, Perm)> = mem
            .regions()
            .filter(|&(s, e, _)| s < stop && e > start)
            .collect();
        let mut cur = start;
        for (s, e, existing) in overlaps {
            let (s, e) = (s.max(start), e.min(stop));
            if s > cur {
                mem.map(cur, s - cur, perm);
            }
            mem.protect(s, e - s, existing | perm);
            cur = e;
        }
        if cur < stop {
            mem.map(cur, stop - cur, perm);
        }
        let file = &elf.data[p.offset as usize..(p.offset + p.filesz) as usize];
        mem.poke(vaddr, file)
            .map_err(|f| ElfError::BadAddress(f.addr))?;
        if phdr.is_none() && p.offset <= elf.phoff && elf.phoff < p.offset + p.filesz {
            phdr = Some(vaddr + (elf.phoff - p.offset));
        }
        end = end.max(seg_end);
    }
    Ok(Loaded {
        bias,
        entry: elf.entry.wrapping_add(bias),
        phdr: phdr.unwrap_or(0),
        phnum: u64::from(elf.phnum),
        end,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A minimal valid static ELF: one RX segment holding `ecall`.
    pub(crate) fn tiny_elf() -> Vec<u8> {
        let mut f = vec![0u8; 64 + 56 + 4];
        f[..4].copy_from_slice(b"\x7fELF");
        f[4] = 2; // 64-bit
        f[5] = 1; // little-endian
        f[6] = 1;
        f[16] = 2; // ET_EXEC
        f[18] = 243; // EM_RISCV
        f[24..32].copy_from_slice(&0x10078u64.to_le_bytes()); // entry
        f[32..40].copy_from_slice(&64u64.to_le_bytes()); // phoff
        f[54] = 56;
        f[56] = 1;
        let ph = 64;
        f[ph..ph + 4].copy_from_slice(&PT_LOAD.to_le_bytes());
        f[ph + 4..ph + 8].copy_from_slice(&(PF_R | PF_X).to_le_bytes());
        f[ph + 16..ph + 24].copy_from_slice(&0x10000u64.to_le_bytes()); // vaddr
        f[ph + 32..ph + 40].copy_from_slice(&124u64.to_le_bytes()); // filesz
        f[ph + 40..ph + 48].copy_from_slice(&124u64.to_le_bytes()); // memsz
        f[120..124].copy_from_slice(&0x0000_0073u32.to_le_bytes());
        f
    }

    #[test]
    fn mutated_headers_never_panic() {
        let good = tiny_elf();
        let elf = Elf::parse(&good).unwrap();
        let mut mem = Memory::new();
        let l = load(&elf, &mut mem, 0).unwrap();
        assert_eq!(l.entry, 0x10078);
        let mut seed = 0x1234_5678_9abc_def0u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..20_000 {
            let mut f = good.clone();
            for _ in 0..1 + next() % 4 {
                let at = (next() % f.len() as u64) as usize;
                f[at] = next() as u8;
            }
            if next() % 8 == 0 {
                f.truncate((next() % f.len() as u64) as usize);
            }
            if let Ok(elf) = Elf::parse(&f) {
                let _ = elf.interp();
                let mut mem = Memory::new();
                let _ = load(&elf, &mut mem, 0);
            }
        }
    }

    /// Headers whose sums overflow: errors, never a panic (the test
    /// profile checks overflow, so a wrapping sum fails here).
    #[test]
    fn overflowing_headers_are_errors() {
        let good = tiny_elf();
        let set =
            |f: &mut Vec<u8>, at: usize, v: u64| f[at..at + 8].copy_from_slice(&v.to_le_bytes());
        // program headers at the very end of the address space
        let mut f = good.clone();
        set(&mut f, 32, u64::MAX - 8);
        assert!(matches!(Elf::parse(&f), Err(ElfError::Malformed(_))));
        // a segment whose end wraps, or lies past the user address space
        for (vaddr, memsz) in [
            (u64::MAX - 0xfff, 0x1000),
            (u64::MAX - 0xfff, 0x200),
            (0x1000, u64::MAX),
            (TASK_SIZE, 124),
        ] {
            let mut f = good.clone();
            set(&mut f, 64 + 16, vaddr);
            set(&mut f, 64 + 40, memsz);
            assert!(
                matches!(Elf::parse(&f), Err(ElfError::BadAddress(_))),
                "{vaddr:#x}+{memsz:#x}"
            );
        }
        // a segment's file range that wraps
        let mut f = good.clone();
        set(&mut f, 64 + 8, u64::MAX - 4);
        assert!(matches!(Elf::parse(&f), Err(ElfError::Malformed(_))));
    }

    #[test]
    fn rejects_bad_input() {
        assert_eq!(Elf::parse(b"").unwrap_err(), ElfError::NotElf);
        assert_eq!(Elf::parse(b"#!/bin/sh\n").unwrap_err(), ElfError::NotElf);
        let mut h = vec![0u8; 64];
        h[..4].copy_from_slice(b"\x7fELF");
        h[4] = 1;
        assert_eq!(Elf::parse(&h).unwrap_err(), ElfError::WrongClass);
        h[4] = 2;
        h[5] = 1;
        h[16] = 2;
        h[18] = 62; // x86-64
        assert_eq!(Elf::parse(&h).unwrap_err(), ElfError::WrongMachine(62));
        h[18] = 243;
        h[54] = 56;
        h[56] = 1;
        h[32] = 64; // phoff past the end
        assert!(matches!(
            Elf::parse(&h).unwrap_err(),
            ElfError::Malformed(_)
        ));
    }
}
