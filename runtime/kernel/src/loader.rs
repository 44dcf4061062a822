//! execve's loader: shebang scripts, static, static-pie and dynamic ELF
//! executables (with their PT_INTERP loaded too), the initial stack.

use crate::Kernel;
use crate::abi::{self, errno};
use crate::elf::{self, Elf, ElfError, TASK_SIZE};
use crate::sys_proc::SIGRETURN_TRAMPOLINE;
use crate::task::Mm;
use friscy_machine::{CodeCache, Memory, PAGE_SIZE, Perm};
use friscy_vfs::FileType;
use thiserror::Error;

/// Top of the initial stack (the page above holds the signal trampoline).
pub const STACK_TOP: u64 = TASK_SIZE - PAGE_SIZE;
/// Size of the stack mapping (RLIMIT_STACK).
pub const STACK_SIZE: u64 = 8 << 20;
/// Top of the mmap area (mappings are placed top-down below it).
pub const MMAP_TOP: u64 = STACK_TOP - STACK_SIZE - (128 << 20);
/// Where ET_DYN executables are placed (2/3 of the address space, as Linux
/// places them).
pub const ET_DYN_BASE: u64 = (TASK_SIZE / 3 * 2) & !(PAGE_SIZE - 1);
/// Nested `#!` interpreters allowed (Linux allows 4 more after the first).
const MAX_SHEBANG: usize = 5;
/// Longest `#!` line Linux reads.
const SHEBANG_MAX: usize = 256;
/// Largest executable friscy loads.
const MAX_IMAGE: u64 = 1 << 30;

/// Why a program could not be started.
#[derive(Debug, Error)]
pub enum LoadError {
    #[error(transparent)]
    Elf(#[from] ElfError),
    #[error("{0}: no such file in the image (looked it up in PATH too)")]
    NotFound(String),
    #[error("working directory {0} does not exist in the image")]
    NoWorkdir(String),
    #[error("argument and environment strings do not fit the stack")]
    TooBig,
    #[error(
        "dynamically linked (interpreter {0}): `friscy exec` runs static programs; `friscy run IMAGE` runs an image's programs"
    )]
    Dynamic(String),
    #[error("{}", describe(*.0))]
    Errno(i64),
}

fn describe(e: i64) -> String {
    let what = match e {
        errno::ENOENT => "no such file or directory",
        errno::EACCES => "permission denied (not executable)",
        errno::ENOEXEC => "exec format error",
        errno::ENOTDIR => "not a directory",
        errno::ELOOP => "too many levels of symbolic links or interpreters",
        errno::E2BIG => "argument list too long",
        errno::ENOMEM => "out of memory",
        _ => "error",
    };
    format!("{what} (errno {e})")
}

/// The loaded program: its address space, entry pc and stack pointer, and
/// the path it runs as.
type Loaded = (Mm, u64, u64, Vec<u8>);

/// Reads `path` (resolved from the current process's cwd) for exec.
fn read_exec(k: &Kernel, path: &[u8]) -> Result<Vec<u8>, LoadError> {
    let pid = k.pid();
    let cwd = k.procs[&pid].cwd;
    let mut fs = k.fs.borrow_mut();
    let ino = fs.resolve(cwd, path, true).map_err(LoadError::Errno)?;
    let st = fs.stat(ino).map_err(LoadError::Errno)?;
    if st.kind == FileType::Dir {
        return Err(LoadError::Errno(errno::EACCES));
    }
    if st.kind != FileType::Reg || st.mode & 0o111 == 0 {
        return Err(LoadError::Errno(errno::EACCES));
    }
    if st.size > MAX_IMAGE || st.size > friscy_budget::room() {
        return Err(LoadError::Errno(errno::ENOMEM));
    }
    let mut data = vec![0u8; st.size as usize];
    let mut got = 0;
    while got < data.len() {
        let n = fs
            .read(ino, got as u64, &mut data[got..])
            .map_err(LoadError::Errno)?;
        if n == 0 {
            break;
        }
        got += n;
    }
    data.truncate(got);
    Ok(data)
}

/// Parses a `#!` line: the interpreter and its optional single argument.
fn shebang(data: &[u8]) -> Option<(Vec<u8>, Option<Vec<u8>>)> {
    let line = data.strip_prefix(b"#!")?;
    let line = &line[..line.len().min(SHEBANG_MAX - 2)];
    let end = line.iter().position(|&b| b == b'\n').unwrap_or(line.len());
    let line = &line[..end];
    let trimmed: &[u8] = {
        let s = line
            .iter()
            .position(|&b| b != b' ' && b != b'\t')
            .unwrap_or(line.len());
        let e = line
            .iter()
            .rposition(|&b| b != b' ' && b != b'\t' && b != b'\r')
            .map_or(s, |e| e + 1);
        &line[s..e.max(s)]
    };
    if trimmed.is_empty() {
        return None;
    }
    let split = trimmed
        .iter()
        .position(|&b| b == b' ' || b == b'\t')
        .unwrap_or(trimmed.len());
    let interp = trimmed[..split].to_vec();
    let rest = &trimmed[split..];
    let rest_start = rest
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .unwrap_or(rest.len());
    let arg = &rest[rest_start..];
    Some((interp, (!arg.is_empty()).then(|| arg.to_vec())))
}

/// Loads the program at `path` of the file system.
pub(crate) fn load_path(
    k: &mut Kernel,
    path: &[u8],
    mut argv: Vec<Vec<u8>>,
    envp: Vec<Vec<u8>>,
    random: [u8; 16],
) -> Result<Loaded, LoadError> {
    let mut path = path.to_vec();
    let execfn = path.clone();
    for _ in 0..MAX_SHEBANG {
        let data = read_exec(k, &path)?;
        if let Some((interp, arg)) = shebang(&data) {
            // argv[0] is replaced by the script's path.
            let mut new = vec![interp.clone()];
            new.extend(arg);
            new.push(path.clone());
            new.extend(argv.into_iter().skip(1));
            argv = new;
            path = interp;
            continue;
        }
        if !data.starts_with(b"\x7fELF") {
            return Err(LoadError::Errno(errno::ENOEXEC));
        }
        let interp = {
            let elf = Elf::parse(&data)?;
            elf.interp()?.map(|i| i.to_vec())
        };
        let interp_data = match &interp {
            Some(i) => {
                let d = read_exec_interp(k, i)?;
                Some(d)
            }
            None => None,
        };
        let exe =
            k.fs.borrow()
                .resolve(k.procs[&k.pid()].cwd, &path, true)
                .ok()
                .and_then(|ino| k.fs.borrow().path_of(ino))
                .unwrap_or(path);
        let interp_name = interp.as_deref().map(|i| {
            k.fs.borrow()
                .resolve(friscy_vfs::ROOT, i, true)
                .ok()
                .and_then(|ino| k.fs.borrow().path_of(ino))
                .unwrap_or_else(|| i.to_vec())
        });
        let images = Images {
            exe: &exe,
            interp: interp_data.as_deref().zip(interp_name.as_deref()),
        };
        let (mm, pc, sp) = build(&data, &images, &execfn, &argv, &envp, random)?;
        return Ok((mm, pc, sp, exe));
    }
    Err(LoadError::Errno(errno::ELOOP))
}

/// The dynamic linker need not be executable (Linux maps it regardless).
fn read_exec_interp(k: &Kernel, path: &[u8]) -> Result<Vec<u8>, LoadError> {
    let mut fs = k.fs.borrow_mut();
    let ino = fs
        .resolve(friscy_vfs::ROOT, path, true)
        .map_err(LoadError::Errno)?;
    let st = fs.stat(ino).map_err(LoadError::Errno)?;
    if st.kind != FileType::Reg || st.size > MAX_IMAGE {
        return Err(LoadError::Errno(errno::ENOEXEC));
    }
    if st.size > friscy_budget::room() {
        return Err(LoadError::Errno(errno::ENOMEM));
    }
    let mut data = vec![0u8; st.size as usize];
    let n = fs.read(ino, 0, &mut data).map_err(LoadError::Errno)?;
    data.truncate(n);
    Ok(data)
}

/// Loads an ELF image from memory (`friscy exec`; must be static).
pub(crate) fn load_image(
    _k: &mut Kernel,
    image: &[u8],
    exe: &[u8],
    argv: &[Vec<u8>],
    envp: &[Vec<u8>],
    random: [u8; 16],
) -> Result<(Mm, u64, u64), LoadError> {
    {
        let elf = Elf::parse(image)?;
        if let Some(i) = elf.interp()? {
            return Err(LoadError::Dynamic(String::from_utf8_lossy(i).into_owned()));
        }
    }
    let images = Images { exe, interp: None };
    build(image, &images, exe, argv, envp, random)
}

/// The names of what is loaded: the program's path and, for a dynamic
/// program, its interpreter's bytes and path.
struct Images<'a> {
    exe: &'a [u8],
    interp: Option<(&'a [u8], &'a [u8])>,
}

/// Names the pages of `elf`'s loadable segments (loaded at `bias`) after
/// `path`, with each segment's file offset.
fn name_segments(mm: &mut Mm, elf: &Elf<'_>, bias: u64, path: &[u8]) {
    let path: std::rc::Rc<[u8]> = path.into();
    for p in elf
        .phdrs
        .iter()
        .filter(|p| p.kind == elf::PT_LOAD && p.memsz > 0)
    {
        let start = p.vaddr.wrapping_add(bias) & !(PAGE_SIZE - 1);
        let stop = p
            .vaddr
            .wrapping_add(bias)
            .wrapping_add(p.memsz)
            .div_ceil(PAGE_SIZE)
            * PAGE_SIZE;
        if start < stop {
            mm.name_range(
                start,
                stop,
                Some((path.clone(), p.offset & !(PAGE_SIZE - 1))),
            );
        }
    }
}

fn build(
    image: &[u8],
    images: &Images<'_>,
    execfn: &[u8],
    argv: &[Vec<u8>],
    envp: &[Vec<u8>],
    random: [u8; 16],
) -> Result<(Mm, u64, u64), LoadError> {
    let elf = Elf::parse(image)?;
    let mut mem = Memory::new();
    let bias = if elf.is_dyn() {
        let lo = elf.span().0;
        ET_DYN_BASE
            .checked_sub(lo)
            .ok_or(ElfError::BadAddress(lo))?
    } else {
        0
    };
    let loaded = elf::load(&elf, &mut mem, bias)?;
    elf::add_code_images(&elf, &mut mem, bias);
    let mut interp_at = None;
    let (entry, base) = match images.interp.map(|(d, _)| d) {
        Some(data) => {
            let ie = Elf::parse(data)?;
            if !ie.is_dyn() {
                return Err(LoadError::Elf(ElfError::Malformed(
                    "the program interpreter is not position-independent",
                )));
            }
            let (lo, hi) = ie.span();
            let len = (hi - lo).div_ceil(PAGE_SIZE) * PAGE_SIZE;
            let at = mem
                .find_free_below(MMAP_TOP, len, loaded.end.saturating_add(1 << 30))
                .ok_or(LoadError::Errno(errno::ENOMEM))?;
            let ibias = at.checked_sub(lo).ok_or(ElfError::BadAddress(lo))?;
            let il = elf::load(&ie, &mut mem, ibias)?;
            elf::add_code_images(&ie, &mut mem, ibias);
            interp_at = Some(ibias);
            (il.entry, ibias)
        }
        None => (loaded.entry, 0),
    };
    mem.map(STACK_TOP - STACK_SIZE, STACK_SIZE, Perm::RW);
    // The signal return trampoline: li a7, 139; ecall.
    mem.map(SIGRETURN_TRAMPOLINE, PAGE_SIZE, Perm::RX);
    let tramp = [0x0893u16, 0x08b0, 0x0073, 0x0000];
    let bytes: Vec<u8> = tramp.iter().flat_map(|h| h.to_le_bytes()).collect();
    mem.poke(SIGRETURN_TRAMPOLINE, &bytes)
        .map_err(|f| ElfError::BadAddress(f.addr))?;
    let auxv = [
        (abi::auxv::AT_PHDR, loaded.phdr),
        (abi::auxv::AT_PHENT, elf::PHDR_SIZE as u64),
        (abi::auxv::AT_PHNUM, loaded.phnum),
        (abi::auxv::AT_PAGESZ, PAGE_SIZE),
        (abi::auxv::AT_BASE, base),
        (abi::auxv::AT_FLAGS, 0),
        (abi::auxv::AT_ENTRY, loaded.entry),
        (abi::auxv::AT_UID, 0),
        (abi::auxv::AT_EUID, 0),
        (abi::auxv::AT_GID, 0),
        (abi::auxv::AT_EGID, 0),
        (abi::auxv::AT_HWCAP, hwcap()),
        (abi::auxv::AT_CLKTCK, 100),
        (abi::auxv::AT_SECURE, 0),
        (abi::auxv::AT_HWCAP2, 0),
    ];
    let sp = build_stack(&mut mem, execfn, argv, envp, &random, &auxv).ok_or(LoadError::TooBig)?;
    let brk = loaded.end.div_ceil(PAGE_SIZE) * PAGE_SIZE;
    let mut mm = Mm::new(mem, CodeCache::new(), brk);
    name_segments(&mut mm, &elf, bias, images.exe);
    if let (Some((data, path)), Some(b)) = (images.interp, interp_at) {
        name_segments(&mut mm, &Elf::parse(data)?, b, path);
    }
    Ok((mm, entry, sp))
}

/// AT_HWCAP: one bit per single-letter extension (IMAFDC).
fn hwcap() -> u64 {
    b"IMAFDC".iter().fold(0, |acc, &c| acc | (1 << (c - b'A')))
}

/// Writes argc, argv, envp, auxv and their strings below `STACK_TOP` in the
/// layout Linux uses; returns the initial stack pointer.
fn build_stack(
    mem: &mut Memory,
    execfn: &[u8],
    argv: &[Vec<u8>],
    envp: &[Vec<u8>],
    random: &[u8; 16],
    auxv: &[(u64, u64)],
) -> Option<u64> {
    let mut sp = STACK_TOP;
    let floor = STACK_TOP - STACK_SIZE / 4;
    let push_bytes = |mem: &mut Memory, sp: &mut u64, data: &[u8]| -> Option<u64> {
        *sp = sp.checked_sub(data.len() as u64)?;
        if *sp < floor {
            return None;
        }
        mem.write_bytes(*sp, data).ok()?;
        Some(*sp)
    };
    let cstr = |s: &[u8]| {
        let mut v = s.to_vec();
        v.push(0);
        v
    };
    let execfn_ptr = push_bytes(mem, &mut sp, &cstr(execfn))?;
    let mut env_ptrs = Vec::new();
    for e in envp.iter().rev() {
        env_ptrs.push(push_bytes(mem, &mut sp, &cstr(e))?);
    }
    env_ptrs.reverse();
    let mut arg_ptrs = Vec::new();
    for a in argv.iter().rev() {
        arg_ptrs.push(push_bytes(mem, &mut sp, &cstr(a))?);
    }
    arg_ptrs.reverse();
    let platform = push_bytes(mem, &mut sp, b"riscv64\0")?;
    sp &= !15;
    let random_ptr = push_bytes(mem, &mut sp, random)?;
    let mut words: Vec<u64> = Vec::new();
    words.push(argv.len() as u64);
    words.extend(&arg_ptrs);
    words.push(0);
    words.extend(&env_ptrs);
    words.push(0);
    for &(k, v) in auxv {
        words.extend([k, v]);
    }
    words.extend([abi::auxv::AT_RANDOM, random_ptr]);
    words.extend([abi::auxv::AT_EXECFN, execfn_ptr]);
    words.extend([abi::auxv::AT_PLATFORM, platform]);
    words.extend([abi::auxv::AT_NULL, 0]);
    let size = (words.len() * 8) as u64;
    sp = (sp - size) & !15;
    if sp < floor {
        return None;
    }
    let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    mem.write_bytes(sp, &bytes).ok()?;
    Some(sp)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Position-independent programs whose addresses do not fit where
    /// they would be placed: errors, not a wrapped base.
    #[test]
    fn misplaced_dynamic_programs_are_errors() {
        let mut f = crate::elf::tests::tiny_elf();
        f[16] = 3; // ET_DYN
        // the lowest segment above where PIE programs are placed
        let vaddr = ET_DYN_BASE + 0x10_0000;
        f[64 + 16..64 + 24].copy_from_slice(&vaddr.to_le_bytes());
        let images = Images {
            exe: b"/x",
            interp: None,
        };
        let err = build(&f, &images, b"/x", &[b"/x".to_vec()], &[], [0; 16])
            .err()
            .expect("refused");
        assert!(
            matches!(err, LoadError::Elf(ElfError::BadAddress(_))),
            "{err}"
        );
        // an interpreter whose segments lie above anywhere it could go
        let exe = crate::elf::tests::tiny_elf();
        let mut interp = f.clone();
        let high = TASK_SIZE - 0x10000;
        interp[64 + 16..64 + 24].copy_from_slice(&high.to_le_bytes());
        let images = Images {
            exe: b"/x",
            interp: Some((&interp, b"/lib/ld.so")),
        };
        let err = build(&exe, &images, b"/x", &[b"/x".to_vec()], &[], [0; 16])
            .err()
            .expect("refused");
        assert!(
            matches!(err, LoadError::Elf(ElfError::BadAddress(_))),
            "{err}"
        );
    }

    #[test]
    fn shebang_lines() {
        assert_eq!(
            shebang(b"#!/bin/sh\necho"),
            Some((b"/bin/sh".to_vec(), None))
        );
        assert_eq!(
            shebang(b"#! /usr/bin/env  python3 \n"),
            Some((b"/usr/bin/env".to_vec(), Some(b"python3".to_vec())))
        );
        assert_eq!(
            shebang(b"#!/bin/sh -e -x\n"),
            Some((b"/bin/sh".to_vec(), Some(b"-e -x".to_vec())))
        );
        assert_eq!(shebang(b"#!\n"), None);
        assert_eq!(shebang(b"\x7fELF"), None);
    }
}
