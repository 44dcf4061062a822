// Runs a static riscv64 program, or a program of a riscv64 OCI image, with
// friscy's wasm32 build under Node.js.
//
//   node runtime/web/node/run.mjs [--stats] PROGRAM [ARGS...]
//   node runtime/web/node/run.mjs [--stats] --oci DIR:TAG [-w DIR] COMMAND [ARGS...]
//
// With --oci, the image's layers are read from the OCI layout DIR (the
// manifest named TAG; blobs checked against their sha256), gunzipped and
// handed to the module; the command runs with the image's Env and
// WorkingDir (-w overrides it). A friscy image (`friscy convert`) is read
// as the page reads it: each layer's index (pinned by the config), then
// file content and modules of translated code by range when first used.
//
// Build the module first:
//   cargo build --release --target wasm32-unknown-unknown -p friscy-web
// (FRISCY_WASM overrides where the module is read from.)
//
// Modules translated ahead of time run the code of the ELF files they were
// made from wherever those are mapped (docs/aot.md): a friscy image's own,
// and with FRISCY_AOT=DIR those of `friscy aot` (DIR/<hex>.wasm, named by
// the sha256 of the ELF file). FRISCY_TRANSLATE=modules (the default) uses
// only them, for code that has run about as long as linking it costs
// (FRISCY_HOT=N links N/256 times as soon; 1 links every function reached
// at once, for tests); force also translates every other block the first time it
// runs; off interprets everything. --stats then also says how much ran
// translated.
import { readFileSync, writeSync, readSync, openSync } from 'node:fs';
import { isatty } from 'node:tty';
import { randomFillSync, createHash } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import v8 from 'node:v8';

// Translated code carries branch hints (docs/aot.md); V8 reads them by
// default from 13.7 on (Chrome 137), before that only with this flag.
const [v8Major, v8Minor] = process.versions.v8.split('.').map(Number);
if (v8Major < 13 || (v8Major === 13 && v8Minor < 7)) {
  v8.setFlagsFromString('--experimental-wasm-branch-hinting');
}

const here = path.dirname(fileURLToPath(import.meta.url));
const wasmPath = process.env.FRISCY_WASM ||
  path.join(here, '../../../target/wasm32-unknown-unknown/release/friscy_web.wasm');

let args = process.argv.slice(2);
let stats = false;
let oci = null;
let workdir = null;
const usage = 'usage: node run.mjs [--stats] PROGRAM [ARGS...]\n' +
  '       node run.mjs [--stats] --oci DIR:TAG [-w DIR] COMMAND [ARGS...]\n';
if (args[0] === '--help' || args[0] === '-h') {
  process.stdout.write(usage +
    '\nRuns a static riscv64 PROGRAM, or COMMAND of the riscv64 OCI image (or\n' +
    'friscy image) in the layout DIR tagged TAG, with friscy\'s wasm32 build.\n' +
    '  --stats   print instructions retired, time and translation counters\n' +
    '  -w DIR    the working directory (default: the image\'s)\n' +
    'Environment: FRISCY_WASM (the module), FRISCY_AOT=DIR (modules of\n' +
    '`friscy aot`), FRISCY_TRANSLATE=modules|force|off, FRISCY_HOT=N.\n');
  process.exit(0);
}
if (args[0] === '--stats') { stats = true; args = args.slice(1); }
if (args[0] === '--oci') { oci = args[1]; args = args.slice(2); }
if (oci && args[0] === '-w') { workdir = args[1]; args = args.slice(2); }
if (args.length === 0 || oci === undefined) {
  process.stderr.write(usage);
  process.exit(125);
}
const fail = (msg) => { process.stderr.write(`friscy: ${msg}\n`); process.exit(125); };

let wasm;
try {
  wasm = readFileSync(wasmPath);
} catch (e) {
  process.stderr.write(`friscy: cannot read ${wasmPath}: ${e.message}\n` +
    'build it with: cargo build --release --target wasm32-unknown-unknown -p friscy-web\n');
  process.exit(125);
}

let memory;
// time and module bytes spent linking translated code (--stats)
let linkNanos = 0n, linkedBytes = 0;
const bytes = (ptr, len) => new Uint8Array(memory.buffer, Number(ptr), Number(len));
const start = process.hrtime.bigint();
const sab = new Int32Array(new SharedArrayBuffer(4));
const errno = (e) => -(e && typeof e.errno === 'number' ? Math.abs(e.errno) : 5);

const host = {
  write(fd, ptr, len) {
    try { return BigInt(writeSync(fd, bytes(ptr, len))); } catch (e) { return BigInt(errno(e)); }
  },
  read(fd, ptr, len) {
    try { return BigInt(readSync(fd, bytes(ptr, len))); } catch (e) {
      if (e.code === 'EOF') return 0n;
      return BigInt(errno(e));
    }
  },
  now(clock) {
    if (clock === 0) return Date.now() * 1e6;
    return Number(process.hrtime.bigint() - start) + 1e9;
  },
  sleep(nanos) { Atomics.wait(sab, 0, 0, nanos / 1e6); },
  random(ptr, len) { randomFillSync(bytes(ptr, len)); },
  is_terminal(fd) { return isatty(fd) ? 1 : 0; },
  // standard input is read as a stream here (no terminal of friscy's own)
  input_ready() { return 1; },
  wait_input(nanos) { if (nanos > 0) Atomics.wait(sab, 0, 0, nanos / 1e6); return 1; },
  window_size() { return 0; },
  // a range of a friscy image's layer blob (see --oci)
  fetch(layer, offset, len, ptr) {
    const fd = layerFds[layer];
    if (fd === undefined) return -5n;
    try {
      let done = 0;
      while (done < len) {
        const n = readSync(fd, bytes(ptr + done, len - done), 0, len - done, offset + done);
        if (n === 0) break;
        done += n;
      }
      return BigInt(done);
    } catch (e) { return BigInt(errno(e)); }
  },
  // modules translated ahead of time, by the sha256 of their ELF file
  module_size(key) {
    const m = aotModule(key);
    return m ? BigInt(m.length) : -1n;
  },
  module_read(key, ptr, len) {
    const m = aotModule(key);
    if (!m || m.length !== len) return -1n;
    bytes(ptr, len).set(m);
    return BigInt(len);
  },
  // translated code: instantiated against this module's memory and
  // helpers, entered through its function table
  link(ptr, len, base) {
    const t = process.hrtime.bigint();
    linkedBytes += len;
    try {
      const code = new WebAssembly.Module(bytes(ptr, len).slice());
      const table = x.__indirect_function_table;
      const linked = new WebAssembly.Instance(code, {
        env: {
          memory, table, load: x.friscy_aot_load, store: x.friscy_aot_store, exec: x.friscy_aot_exec,
          base: new WebAssembly.Global({ value: 'i64', mutable: false }, base),
        },
      });
      // its functions, in consecutive slots (it exports their number and
      // a function that installs them: see friscy_aot::abi)
      const slot = table.grow(linked.exports.functions.value);
      linked.exports.install(slot);
      return slot;
    } catch (e) {
      process.stderr.write(`friscy: cannot link translated code: ${e.message}\n`);
      return -1;
    } finally {
      linkNanos += process.hrtime.bigint() - t;
    }
  },
};

// the open layer blobs of a friscy image, by layer number
const layerFds = [];
const aotDir = process.env.FRISCY_AOT || null;
const aotModules = new Map();
function aotModule(keyPtr) {
  if (!aotDir) return null;
  const hex = Buffer.from(bytes(keyPtr, 32)).toString('hex');
  if (!aotModules.has(hex)) {
    let m = null;
    try { m = readFileSync(path.join(aotDir, `${hex}.wasm`)); } catch (e) {
      if (e.code !== 'ENOENT') process.stderr.write(`friscy: ${aotDir}/${hex}.wasm: ${e.message}\n`);
    }
    aotModules.set(hex, m);
  }
  return aotModules.get(hex);
}

const { instance } = await WebAssembly.instantiate(wasm, { friscy_host: host });
const x = instance.exports;
memory = x.memory;
const translate = process.env.FRISCY_TRANSLATE || 'modules';
const modes = { off: 0, force: 1, modules: 2 };
if (!(translate in modes)) fail(`FRISCY_TRANSLATE=${translate}: off, modules or force`);
x.friscy_translate(modes[translate]);
if (process.env.FRISCY_HOT) {
  const n = Number(process.env.FRISCY_HOT);
  if (!Number.isInteger(n) || n < 1) fail(`FRISCY_HOT=${process.env.FRISCY_HOT}: a count of 1 or more`);
  x.friscy_translate_after(n);
}

const enc = new TextEncoder();
const pack = (list) => {
  const strs = list.map((s) => enc.encode(s + '\0'));
  const len = strs.reduce((n, s) => n + s.length, 0);
  const ptr = x.friscy_alloc(len);
  let off = 0;
  for (const s of strs) { bytes(ptr + off, s.length).set(s); off += s.length; }
  return [ptr, len];
};

// A blob of the OCI layout, checked against its digest.
const blob = (dir, digest) => {
  const m = /^sha256:([0-9a-f]{64})$/.exec(digest || '');
  if (!m) fail(`bad digest ${digest}`);
  let data;
  try { data = readFileSync(path.join(dir, 'blobs', 'sha256', m[1])); } catch (e) { fail(`missing blob ${digest}: ${e.message}`); }
  if (createHash('sha256').update(data).digest('hex') !== m[1]) fail(`blob ${digest} does not match its digest`);
  return data;
};

if (oci) {
  const cut = oci.lastIndexOf(':');
  const [dir, tag] = cut > 0 ? [oci.slice(0, cut), oci.slice(cut + 1)] : [oci, null];
  let index;
  try { index = JSON.parse(readFileSync(path.join(dir, 'index.json'), 'utf8')); } catch (e) { fail(`cannot read ${dir}/index.json: ${e.message}`); }
  const descs = index.manifests || [];
  const desc = tag === null ? (descs.length === 1 ? descs[0] : null)
    : descs.find((d) => (d.annotations || {})['org.opencontainers.image.ref.name'] === tag);
  if (!desc) fail(`no image ${tag ?? '(untagged)'} in ${dir}`);
  const manifest = JSON.parse(blob(dir, desc.digest).toString('utf8'));
  const config = JSON.parse(blob(dir, manifest.config.digest).toString('utf8'));
  if (config.architecture !== 'riscv64') fail(`the image is ${config.os}/${config.architecture}, not linux/riscv64`);
  const labels = (config.config || {}).Labels || {};
  if (labels['dev.friscy.format']) {
    // a friscy image: indexes now, the rest by range when used
    const infos = JSON.parse(labels['dev.friscy.layers'] || '[]');
    if (infos.length !== manifest.layers.length) fail('the image\'s friscy layer list does not match its layers');
    manifest.layers.forEach((layer, n) => {
      const info = infos[n];
      if (info.digest !== layer.digest) fail(`layer ${n + 1} is not the blob its friscy index describes (push it with friscy push)`);
      const m = /^sha256:([0-9a-f]{64})$/.exec(layer.digest);
      if (!m) fail(`bad digest ${layer.digest}`);
      try { layerFds[n] = openSync(path.join(dir, 'blobs', 'sha256', m[1]), 'r'); } catch (e) { fail(`missing blob ${layer.digest}: ${e.message}`); }
      const [off, len] = info.index;
      const ptr = x.friscy_alloc(len);
      if (host.fetch(n, off, len, ptr) !== BigInt(len)) fail(`cannot read layer ${n + 1}'s index`);
      const [dptr, dlen] = pack([info.index_digest]);
      if (x.friscy_index(ptr, len, dptr, dlen - 1) !== 0) process.exit(125);
    });
  } else for (const layer of manifest.layers) {
    let tar = blob(dir, layer.digest);
    if (tar[0] === 0x1f && tar[1] === 0x8b) tar = gunzipSync(tar);
    const ptr = x.friscy_alloc(tar.length);
    bytes(ptr, tar.length).set(tar);
    if (x.friscy_layer(ptr, tar.length) !== 0) process.exit(125);
  }
  const cfg = config.config || {};
  const env = cfg.Env || ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'];
  const [ptr, len] = pack([args[0], workdir || cfg.WorkingDir || '/', ...args, ...env]);
  if (x.friscy_spawn(ptr, len, args.length, env.length) !== 0) process.exit(125);
} else {
  const program = args[0];
  const elf = readFileSync(program);
  // the program gets node's environment, less friscy's own settings
  const env = Object.entries(process.env)
    .filter(([k]) => !k.startsWith('FRISCY_'))
    .map(([k, v]) => `${k}=${v}`);
  const [argPtr, argLen] = pack([path.resolve(program), ...args, ...env]);
  const elfPtr = x.friscy_alloc(elf.length);
  bytes(elfPtr, elf.length).set(elf);
  if (x.friscy_exec(elfPtr, elf.length, argPtr, argLen, args.length, env.length) !== 0) {
    process.exit(125);
  }
}
const t0 = process.hrtime.bigint();
const status = x.friscy_run();
const secs = Number(process.hrtime.bigint() - t0) / 1e9;
if (stats) {
  const n = x.friscy_instret();
  process.stderr.write(`friscy-stats: instret=${n} seconds=${secs.toFixed(6)} mips=${(Number(n) / secs / 1e6).toFixed(1)}` +
    ` translated-instret=${x.friscy_translated_instret()} regions=${x.friscy_translated_regions()}` +
    ` modules=${x.friscy_translated_modules()}` +
    ` entries=${x.friscy_translated_entries()} to-interpreter=${x.friscy_translated_to_interpreter()}` +
    ` link-seconds=${(Number(linkNanos) / 1e9).toFixed(3)} module-bytes=${linkedBytes}\n`);
}
process.exit(status);
