//! The runtime as a WebAssembly module (`wasm32-unknown-unknown`).
//!
//! The module imports a small host interface (module `friscy_host`, see
//! [`imports`]) and exports a C-like API that a JavaScript embedder drives:
//!
//! 1. `friscy_alloc(len)` for buffers it fills with the program and its
//!    arguments;
//! 2. `friscy_exec(elf, elf_len, args, args_len, argc, envc)` loads a
//!    static riscv64 program (`args` holds the program's absolute path —
//!    what `/proc/self/exe` names — then argc argument strings, then envc
//!    environment strings, each NUL-terminated); returns 0 or a negative
//!    error code (the message is written to fd 2);
//! 3. `friscy_run()` runs it to the end and returns the exit status;
//!    `friscy_instret()` tells how many guest instructions retired.
//!
//! Or, to run a container image's program: `friscy_layer(tar, len)` once
//! per image layer (an uncompressed tar, applied in order), then
//! `friscy_spawn(args, args_len, argc, envc)` (`args` holds the command,
//! the working directory, then argc argument strings and envc environment
//! strings, each NUL-terminated; the command is looked up in PATH when it
//! has no slash), then `friscy_run()`.
//!
//! `node/run.mjs` is such an embedder for Node.js. The browser embedder
//! (Web Worker, SharedArrayBuffer and Atomics for blocking) builds on the
//! same exports.

use friscy_kernel::{Clock, Host, HostStat, Kernel};
use std::cell::RefCell;

#[cfg(target_arch = "wasm32")]
mod imports {
    #[link(wasm_import_module = "friscy_host")]
    unsafe extern "C" {
        /// Writes `len` bytes at `ptr` to stream `fd`; bytes written or -errno.
        pub fn write(fd: i32, ptr: *const u8, len: usize) -> i64;
        /// Reads up to `len` bytes into `ptr` from stream `fd`; bytes read
        /// (0 at end of input) or -errno.
        pub fn read(fd: i32, ptr: *mut u8, len: usize) -> i64;
        /// Nanoseconds on a clock: 0 realtime (since the epoch), 1 monotonic.
        pub fn now(clock: i32) -> f64;
        /// Blocks for `nanos` nanoseconds.
        pub fn sleep(nanos: f64);
        /// Fills `len` bytes at `ptr` with random bytes.
        pub fn random(ptr: *mut u8, len: usize);
        /// 1 if stream `fd` is a terminal.
        pub fn is_terminal(fd: i32) -> i32;
        /// 1 if a read of stream `fd` would not block.
        pub fn input_ready(fd: i32) -> i32;
        /// Waits until stream 0 has input or `nanos` pass (negative:
        /// forever); 1 if it has input.
        pub fn wait_input(nanos: f64) -> i32;
        /// The terminal's size as rows << 16 | columns, or 0 if unknown.
        pub fn window_size() -> u32;
        /// Reads `len` bytes at `offset` of the blob of image layer `layer`
        /// into `ptr`; bytes read or -errno.
        pub fn fetch(layer: u32, offset: f64, len: u32, ptr: *mut u8) -> i64;
        /// Instantiates the translated module of `len` bytes at `ptr`
        /// against this module's memory, function table and
        /// `friscy_aot_load`/`_store`, with `base` as its base address;
        /// puts its functions (exported as `0`, `1`, …) in consecutive
        /// slots of this module's function table; returns the first
        /// slot, or -1.
        pub fn link(ptr: *const u8, len: usize, base: i64) -> i32;
        /// The size of the module translated ahead of time from the file
        /// whose sha256 is the 32 bytes at `key`, or -1 if there is none.
        pub fn module_size(key: *const u8) -> i64;
        /// Reads that module into the `len` bytes at `ptr`; bytes read, or
        /// -1.
        pub fn module_read(key: *const u8, ptr: *mut u8, len: usize) -> i64;
    }
}

/// The host as the JavaScript embedder provides it.
#[derive(Debug, Default)]
pub struct WebHost;

use friscy_kernel::abi::errno::ESPIPE;

#[cfg(target_arch = "wasm32")]
impl Host for WebHost {
    fn write(&mut self, fd: i32, data: &[u8]) -> Result<usize, i64> {
        // SAFETY: the import reads `data.len()` bytes of this module's
        // memory at `data.as_ptr()`, which is a live borrowed slice.
        let n = unsafe { imports::write(fd, data.as_ptr(), data.len()) };
        if n < 0 { Err(-n) } else { Ok(n as usize) }
    }

    fn read(&mut self, fd: i32, buf: &mut [u8]) -> Result<usize, i64> {
        // SAFETY: the import writes at most `buf.len()` bytes into the live,
        // exclusively borrowed `buf`.
        let n = unsafe { imports::read(fd, buf.as_mut_ptr(), buf.len()) };
        if n < 0 {
            Err(-n)
        } else {
            Ok((n as usize).min(buf.len()))
        }
    }

    fn fstat(&mut self, fd: i32) -> Result<HostStat, i64> {
        let mode = if self.is_terminal(fd) {
            friscy_kernel::abi::S_IFCHR | 0o620
        } else {
            friscy_kernel::abi::S_IFIFO | 0o600
        };
        Ok(HostStat {
            mode,
            nlink: 1,
            blksize: 4096,
            ..HostStat::default()
        })
    }

    fn is_terminal(&mut self, fd: i32) -> bool {
        // SAFETY: a plain call with integer arguments.
        unsafe { imports::is_terminal(fd) != 0 }
    }

    fn seek(&mut self, _fd: i32, _offset: i64, _whence: u32) -> Result<u64, i64> {
        Err(ESPIPE)
    }

    fn now(&mut self, clock: Clock) -> u128 {
        let c = match clock {
            Clock::Realtime => 0,
            Clock::Monotonic => 1,
        };
        // SAFETY: a plain call with integer arguments.
        unsafe { imports::now(c) as u128 }
    }

    fn sleep(&mut self, nanos: u128) {
        // SAFETY: a plain call with a float argument.
        unsafe { imports::sleep(nanos as f64) }
    }

    fn random(&mut self, buf: &mut [u8]) -> Result<(), i64> {
        // SAFETY: the import writes exactly `buf.len()` bytes into the live,
        // exclusively borrowed `buf`.
        unsafe { imports::random(buf.as_mut_ptr(), buf.len()) };
        Ok(())
    }

    fn input_ready(&mut self, fd: i32) -> bool {
        // SAFETY: a plain call with an integer argument.
        unsafe { imports::input_ready(fd) != 0 }
    }

    fn wait_input(&mut self, _fd: i32, timeout: Option<u128>) -> bool {
        let nanos = timeout.map_or(-1.0, |t| t as f64);
        // SAFETY: a plain call with a float argument.
        unsafe { imports::wait_input(nanos) != 0 }
    }

    fn window_size(&mut self) -> Option<(u16, u16)> {
        // SAFETY: a plain call.
        let v = unsafe { imports::window_size() };
        (v != 0).then_some(((v >> 16) as u16, v as u16))
    }
}

/// Links translated code through the embedder (see `imports::link`) and
/// calls it through this module's function table.
struct WebLinker;

#[cfg(target_arch = "wasm32")]
impl friscy_machine::aot::Linker for WebLinker {
    fn link(&mut self, wasm: &[u8], base: u64) -> Option<friscy_machine::aot::Linked> {
        // SAFETY: the import reads `wasm.len()` bytes at `wasm.as_ptr()`,
        // a live borrowed slice.
        let slot = unsafe { imports::link(wasm.as_ptr(), wasm.len(), base as i64) };
        u32::try_from(slot).ok().map(friscy_machine::aot::Linked)
    }

    fn module(&mut self, key: &[u8; 32]) -> Option<Vec<u8>> {
        read_module(key, None)
    }

    fn module_head(&mut self, key: &[u8; 32], len: usize) -> Option<Vec<u8>> {
        read_module(key, Some(len))
    }

    fn call(
        &mut self,
        f: friscy_machine::aot::Linked,
        state: &mut friscy_machine::aot::State,
    ) -> i32 {
        type Run = extern "C" fn(*mut friscy_machine::aot::State) -> i32;
        // SAFETY: in wasm32 a function pointer is a slot of the module's
        // function table; the embedder put there (by `link`) an exported
        // `(i32) -> i32` function of a module friscy-aot made, whose type is
        // this one, and the slot is never reused.
        let run = unsafe { std::mem::transmute::<usize, Run>(f.0 as usize) };
        run(std::ptr::from_mut(state))
    }
}

/// The module for the file whose sha256 is `key`, or its first `head`
/// bytes: the image's own (only the chunks that hold those bytes are
/// read), else the embedder's.
#[cfg(target_arch = "wasm32")]
fn read_module(key: &[u8; 32], head: Option<usize>) -> Option<Vec<u8>> {
    let version = friscy_aot::abi::VERSION;
    let stored = IMAGE_MODULES.with(|m| match head {
        Some(len) => m.borrow().get_head(key, version, len),
        None => m.borrow().get(key, version),
    });
    match stored {
        Some(Ok(wasm)) => return Some(wasm),
        Some(Err(e)) => {
            let _ = WebHost.write(
                2,
                format!("\r\nfriscy: cannot read a module of translated code: {e}\r\n").as_bytes(),
            );
            return None;
        }
        None => {}
    }
    // SAFETY: the import reads the 32 bytes of `key`.
    let size = unsafe { imports::module_size(key.as_ptr()) };
    let size = usize::try_from(size).ok()?;
    let mut wasm = vec![0u8; size];
    // SAFETY: the import writes at most `size` bytes into `wasm`,
    // which holds that many, and reads the 32 bytes of `key`.
    let got = unsafe { imports::module_read(key.as_ptr(), wasm.as_mut_ptr(), size) };
    if usize::try_from(got).ok()? != size {
        return None;
    }
    // a module of another translator version is not used: say so
    // (once a module), or its file's code is interpreted unnoticed
    let version = friscy_aot::abi::module_version(&wasm);
    if version != Some(friscy_aot::abi::VERSION) {
        let hex = friscy_vfs::image::Digest(*key).hex();
        let why = match version {
            Some(v) => format!(
                "made by translator version {v}, this runtime runs version {}",
                friscy_aot::abi::VERSION
            ),
            None => "not a module friscy made".to_string(),
        };
        let _ = WebHost.write(
            2,
            format!(
                "\r\nfriscy: the embedder's module {hex}.wasm is not used ({why}): \
                 its code is interpreted\r\n"
            )
            .as_bytes(),
        );
        return None;
    }
    // (the embedder has no reads of part of a module)
    if let Some(len) = head {
        wasm.truncate(len);
    }
    Some(wasm)
}

#[cfg(not(target_arch = "wasm32"))]
impl friscy_machine::aot::Linker for WebLinker {
    fn link(&mut self, _wasm: &[u8], _base: u64) -> Option<friscy_machine::aot::Linked> {
        None
    }
    fn module(&mut self, _key: &[u8; 32]) -> Option<Vec<u8>> {
        None
    }
    fn call(
        &mut self,
        _f: friscy_machine::aot::Linked,
        _state: &mut friscy_machine::aot::State,
    ) -> i32 {
        friscy_aot::abi::Exit::Interpret as i32
    }
}

/// Chooses when code is translated: 0 never (the interpreter runs
/// everything), 1 every block the first time it runs (and files' modules),
/// 2 only code of files whose modules the host has (`module_size`).
/// Returns 0, or -1 for an unknown mode.
#[unsafe(no_mangle)]
pub extern "C" fn friscy_translate(mode: u32) -> i32 {
    let mode = match mode {
        0 => friscy_machine::aot::Mode::Off,
        1 => friscy_machine::aot::Mode::Force,
        2 => friscy_machine::aot::Mode::Modules,
        _ => return -1,
    };
    friscy_machine::aot::configure(mode, Some(Box::new(WebLinker)));
    0
}

/// How soon code is linked from its module (in mode 2): `times` visits of
/// a pc, and its function's cost scaled by `times / 256` (1 is at once);
/// see `friscy_machine::aot::set_hot`.
#[unsafe(no_mangle)]
pub extern "C" fn friscy_translate_after(times: u32) {
    friscy_machine::aot::set_hot(times);
}

/// Translated code's load helper (`friscy_aot::abi::IMPORT_LOAD`).
///
/// # Safety
/// `state` must be the state block friscy passed to the translated code
/// that calls this.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn friscy_aot_load(
    state: *mut friscy_machine::aot::State,
    addr: u64,
    size: u32,
) -> u64 {
    // SAFETY: the caller passes the live state block it was given.
    friscy_machine::aot::load(unsafe { &mut *state }, addr, size)
}

/// Translated code's store helper (`friscy_aot::abi::IMPORT_STORE`).
///
/// # Safety
/// As for [`friscy_aot_load`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn friscy_aot_store(
    state: *mut friscy_machine::aot::State,
    addr: u64,
    value: u64,
    size: u32,
) {
    // SAFETY: the caller passes the live state block it was given.
    friscy_machine::aot::store(unsafe { &mut *state }, addr, value, size)
}

/// Translated code's interpreter helper (`friscy_aot::abi::IMPORT_EXEC`).
///
/// # Safety
/// As for [`friscy_aot_load`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn friscy_aot_exec(state: *mut friscy_machine::aot::State, pc: u64) {
    // SAFETY: as for `friscy_aot_load`.
    friscy_machine::aot::exec(unsafe { &mut *state }, pc)
}

/// Guest instructions retired in translated code so far.
#[unsafe(no_mangle)]
pub extern "C" fn friscy_translated_instret() -> u64 {
    friscy_machine::aot::stats().instret
}

/// Files' modules linked so far (once per load address).
#[unsafe(no_mangle)]
pub extern "C" fn friscy_translated_modules() -> u64 {
    friscy_machine::aot::stats().modules
}

/// Regions translated so far.
#[unsafe(no_mangle)]
pub extern "C" fn friscy_translated_regions() -> u64 {
    friscy_machine::aot::stats().regions
}

/// Calls into translated code so far.
#[unsafe(no_mangle)]
pub extern "C" fn friscy_translated_entries() -> u64 {
    friscy_machine::aot::stats().entries
}

/// Of those, the ones that came back for the interpreter to run an
/// instruction translated code does not (or that faulted).
#[unsafe(no_mangle)]
pub extern "C" fn friscy_translated_to_interpreter() -> u64 {
    friscy_machine::aot::stats().to_interpreter
}

/// Chunks of a friscy image, fetched by the embedder (range reads of the
/// layer blobs; the page caches them by digest).
struct WebChunks;

#[cfg(target_arch = "wasm32")]
impl friscy_vfs::image::ChunkSource for WebChunks {
    fn chunk(&self, layer: usize, loc: &friscy_vfs::image::ChunkLoc) -> std::io::Result<Vec<u8>> {
        let len =
            u32::try_from(loc.clen).map_err(|_| std::io::Error::other("chunk member too large"))?;
        let mut member = vec![0u8; len as usize];
        // SAFETY: the import writes at most `len` bytes into `member`, a
        // live buffer of exactly that size.
        let n =
            unsafe { imports::fetch(layer as u32, loc.offset as f64, len, member.as_mut_ptr()) };
        if n != i64::from(len) {
            return Err(std::io::Error::other(format!(
                "fetching layer {layer} bytes {}+{len} failed ({n})",
                loc.offset
            )));
        }
        friscy_vfs::image::member_data(&member, loc.len as usize)
    }

    fn refused(&self, _layer: usize, _loc: &friscy_vfs::image::ChunkLoc, why: &str) {
        let _ = WebHost.write(2, format!("\r\nfriscy: {why}\r\n").as_bytes());
    }
}

#[cfg(not(target_arch = "wasm32"))]
impl friscy_vfs::image::ChunkSource for WebChunks {
    fn chunk(&self, _layer: usize, _loc: &friscy_vfs::image::ChunkLoc) -> std::io::Result<Vec<u8>> {
        Err(std::io::Error::other("no embedder"))
    }
}

/// Outside wasm32 the module has no host: every call fails (this keeps the
/// crate checkable natively).
#[cfg(not(target_arch = "wasm32"))]
impl Host for WebHost {
    fn write(&mut self, _fd: i32, _data: &[u8]) -> Result<usize, i64> {
        Err(friscy_kernel::abi::errno::ENOSYS)
    }
    fn read(&mut self, _fd: i32, _buf: &mut [u8]) -> Result<usize, i64> {
        Err(friscy_kernel::abi::errno::ENOSYS)
    }
    fn fstat(&mut self, _fd: i32) -> Result<HostStat, i64> {
        Err(friscy_kernel::abi::errno::ENOSYS)
    }
    fn is_terminal(&mut self, _fd: i32) -> bool {
        false
    }
    fn seek(&mut self, _fd: i32, _offset: i64, _whence: u32) -> Result<u64, i64> {
        Err(ESPIPE)
    }
    fn now(&mut self, _clock: Clock) -> u128 {
        0
    }
    fn sleep(&mut self, _nanos: u128) {}
    fn random(&mut self, _buf: &mut [u8]) -> Result<(), i64> {
        Err(friscy_kernel::abi::errno::ENOSYS)
    }
}

thread_local! {
    static KERNEL: RefCell<Option<Kernel>> = const { RefCell::new(None) };
    /// The indexes of a friscy image's layers, lowest first.
    static INDEXES: RefCell<Vec<friscy_vfs::image::Index>> = const { RefCell::new(Vec::new()) };
    /// The image's file system while its layers are being applied.
    static LAYERS: RefCell<Option<friscy_vfs::Fs>> = const { RefCell::new(None) };
    /// The image's modules of translated code (read when their ELF file
    /// is first mapped).
    static IMAGE_MODULES: RefCell<friscy_vfs::image::Modules> =
        RefCell::new(friscy_vfs::image::Modules::default());
}

/// Allocates `len` bytes for the embedder (never freed before exit: the
/// buffers live as long as the program).
#[unsafe(no_mangle)]
pub extern "C" fn friscy_alloc(len: usize) -> *mut u8 {
    let mut v = vec![0u8; len.max(1)];
    let p = v.as_mut_ptr();
    std::mem::forget(v);
    p
}

/// Splits `n` NUL-terminated strings off the front of `buf`.
fn strings(buf: &[u8], n: usize) -> Option<(Vec<Vec<u8>>, &[u8])> {
    let mut out = Vec::with_capacity(n);
    let mut rest = buf;
    for _ in 0..n {
        let end = rest.iter().position(|&b| b == 0)?;
        out.push(rest[..end].to_vec());
        rest = &rest[end + 1..];
    }
    Some((out, rest))
}

/// Loads a program; see the crate docs.
///
/// # Safety
/// `elf` and `args` must point at `elf_len` and `args_len` readable bytes
/// of this module's memory (as returned by [`friscy_alloc`]).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn friscy_exec(
    elf: *const u8,
    elf_len: usize,
    args: *const u8,
    args_len: usize,
    argc: usize,
    envc: usize,
) -> i32 {
    // SAFETY: the caller guarantees both ranges are readable.
    let (image, args) = unsafe {
        (
            std::slice::from_raw_parts(elf, elf_len),
            std::slice::from_raw_parts(args, args_len),
        )
    };
    let mut host = WebHost;
    let Some((exe, args)) = strings(args, 1) else {
        let _ = host.write(2, b"friscy: malformed argument block\n");
        return -1;
    };
    let Some((argv, rest)) = strings(args, argc) else {
        let _ = host.write(2, b"friscy: malformed argument block\n");
        return -1;
    };
    let Some((envp, _)) = strings(rest, envc) else {
        let _ = host.write(2, b"friscy: malformed environment block\n");
        return -1;
    };
    let mut kernel = Kernel::new(friscy_vfs::Fs::new(), Box::new(WebHost));
    match kernel.spawn_image(image, &exe[0], &argv, &envp) {
        Ok(_) => {
            KERNEL.with(|cell| *cell.borrow_mut() = Some(kernel));
            0
        }
        Err(e) => {
            let exe = String::from_utf8_lossy(&exe[0]);
            let _ = host.write(2, format!("friscy: cannot run {exe}: {e}\n").as_bytes());
            -2
        }
    }
}

/// Applies one image layer (an uncompressed tar) to the file system the
/// next `friscy_spawn` runs in; returns 0, or -1 with a message on fd 2.
///
/// # Safety
/// `tar` must point at `len` readable bytes of this module's memory.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn friscy_layer(tar: *const u8, len: usize) -> i32 {
    // SAFETY: the caller guarantees the range is readable.
    let data = unsafe { std::slice::from_raw_parts(tar, len) };
    LAYERS.with(|cell| {
        let mut slot = cell.borrow_mut();
        let fs = slot.get_or_insert_with(friscy_vfs::Fs::new);
        match fs.apply_layer(data) {
            Ok(_) => 0,
            Err(e) => {
                let _ = WebHost.write(2, format!("friscy: bad layer: {e}\n").as_bytes());
                -1
            }
        }
    })
}

/// Starts a program of the image given with `friscy_layer` (or of the
/// friscy image given with `friscy_index`, read lazily through `fetch`);
/// see the crate docs. Returns 0 or a negative error code (the message is
/// on fd 2).
///
/// # Safety
/// `args` must point at `args_len` readable bytes of this module's memory.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn friscy_spawn(
    args: *const u8,
    args_len: usize,
    argc: usize,
    envc: usize,
) -> i32 {
    // SAFETY: the caller guarantees the range is readable.
    let args = unsafe { std::slice::from_raw_parts(args, args_len) };
    let fs = if INDEXES.with(|cell| cell.borrow().is_empty()) {
        LAYERS
            .with(|cell| cell.borrow_mut().take())
            .unwrap_or_default()
    } else {
        match image_fs() {
            Some(fs) => fs,
            None => return -3,
        }
    };
    start(
        Kernel::new(fs, Box::new(WebHost)),
        args,
        argc,
        envc,
        &friscy_kernel::Creds::default(),
    )
}

/// Splits a spawn argument block (command, working directory, argc
/// arguments, envc environment strings) and starts the command in
/// `kernel`; 0, or a negative code with the message on fd 2.
fn start(
    mut kernel: Kernel,
    args: &[u8],
    argc: usize,
    envc: usize,
    creds: &friscy_kernel::Creds,
) -> i32 {
    let mut host = WebHost;
    let parsed = strings(args, 2).and_then(|(head, rest)| {
        let (argv, rest) = strings(rest, argc)?;
        let (envp, _) = strings(rest, envc)?;
        Some((head, argv, envp))
    });
    let Some((head, argv, envp)) = parsed else {
        let _ = host.write(2, b"friscy: malformed argument block\n");
        return -1;
    };
    match kernel.spawn(&head[0], &argv, &envp, &head[1], creds) {
        Ok(_) => {
            KERNEL.with(|cell| *cell.borrow_mut() = Some(kernel));
            0
        }
        Err(e) => {
            let cmd = String::from_utf8_lossy(&head[0]);
            let _ = host.write(2, format!("friscy: cannot start {cmd}: {e}\n").as_bytes());
            -2
        }
    }
}

/// Adds the next layer of a friscy image: `member` is the layer's index
/// member (the byte range its config records), `digest` the digest the
/// config pins for it (`sha256:<hex>`, `digest_len` bytes); a member with
/// another digest is refused. Returns 0, or -1 with a message on fd 2.
///
/// # Safety
/// `member` and `digest` must point at `len` and `digest_len` readable
/// bytes of this module's memory.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn friscy_index(
    member: *const u8,
    len: usize,
    digest: *const u8,
    digest_len: usize,
) -> i32 {
    // SAFETY: the caller guarantees both ranges are readable.
    let (data, digest) = unsafe {
        (
            std::slice::from_raw_parts(member, len),
            std::slice::from_raw_parts(digest, digest_len),
        )
    };
    let digest = String::from_utf8_lossy(digest);
    match friscy_vfs::image::read_pinned_index(data, &digest) {
        Ok(ix) => {
            INDEXES.with(|cell| cell.borrow_mut().push(ix));
            0
        }
        Err(e) => {
            let _ = WebHost.write(2, format!("friscy: bad layer index: {e}\n").as_bytes());
            -1
        }
    }
}

/// Starts a program of the friscy image given with `friscy_index`, on a
/// terminal (the embedder's: input, window size); the argument block is
/// as for `friscy_spawn`, and `uid`/`gid` the user to run as. Returns 0 or
/// a negative error code (the message is on fd 2).
///
/// # Safety
/// `args` must point at `args_len` readable bytes of this module's memory.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn friscy_boot(
    args: *const u8,
    args_len: usize,
    argc: usize,
    envc: usize,
    uid: u32,
    gid: u32,
) -> i32 {
    // SAFETY: the caller guarantees the range is readable.
    let args = unsafe { std::slice::from_raw_parts(args, args_len) };
    let Some(fs) = image_fs() else {
        return -3;
    };
    let mut kernel = Kernel::new(fs, Box::new(WebHost));
    kernel.enable_tty();
    let creds = friscy_kernel::Creds {
        uid,
        gid,
        ..friscy_kernel::Creds::default()
    };
    start(kernel, args, argc, envc, &creds)
}

/// The file system of the friscy image given with `friscy_index` (its
/// modules of translated code kept for the linker), or `None` with the
/// message on fd 2.
fn image_fs() -> Option<friscy_vfs::Fs> {
    let indexes = INDEXES.with(|cell| std::mem::take(&mut *cell.borrow_mut()));
    let mut fs = friscy_vfs::Fs::new();
    match fs.apply_friscy_image(&indexes, Box::new(WebChunks)) {
        Ok((_, modules)) => {
            IMAGE_MODULES.with(|m| *m.borrow_mut() = modules);
            Some(fs)
        }
        Err(e) => {
            let _ = WebHost.write(2, format!("friscy: the image is corrupt: {e}\n").as_bytes());
            None
        }
    }
}

/// Sets the memory limit, in MiB (0: none), for what the container holds:
/// its processes' pages and its files in memory. Past it a process is
/// killed as by the OOM killer, with a message on fd 2 naming the limit.
#[unsafe(no_mangle)]
pub extern "C" fn friscy_memory_limit(mib: u32) {
    friscy_kernel::budget::set_limit((mib > 0).then(|| u64::from(mib) << 20));
}

/// Runs the loaded program to its end; returns its exit status (128+N when
/// killed by signal N), or -1 if nothing is loaded.
#[unsafe(no_mangle)]
pub extern "C" fn friscy_run() -> i32 {
    KERNEL.with(|cell| {
        let mut slot = cell.borrow_mut();
        let Some(k) = slot.as_mut() else {
            return -1;
        };
        k.run().status()
    })
}

/// Guest instructions retired so far.
#[unsafe(no_mangle)]
pub extern "C" fn friscy_instret() -> u64 {
    KERNEL.with(|cell| cell.borrow().as_ref().map_or(0, |k| k.instret()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argument_blocks_split() {
        let (a, rest) = strings(b"prog\0x\0K=V\0", 2).unwrap();
        assert_eq!(a, vec![b"prog".to_vec(), b"x".to_vec()]);
        let (e, _) = strings(rest, 1).unwrap();
        assert_eq!(e, vec![b"K=V".to_vec()]);
        assert!(strings(b"unterminated", 1).is_none());
    }
}
