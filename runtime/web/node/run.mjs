// Runs a static riscv64 program with friscy's wasm32 build under Node.js.
//
//   node runtime/web/node/run.mjs [--stats] PROGRAM [ARGS...]
//
// Build the module first:
//   cargo build --release --target wasm32-unknown-unknown -p friscy-web
// (FRISCY_WASM overrides where the module is read from.)
import { readFileSync, writeSync, readSync } from 'node:fs';
import { isatty } from 'node:tty';
import { randomFillSync } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const here = path.dirname(fileURLToPath(import.meta.url));
const wasmPath = process.env.FRISCY_WASM ||
  path.join(here, '../../../target/wasm32-unknown-unknown/release/friscy_web.wasm');

let args = process.argv.slice(2);
let stats = false;
if (args[0] === '--stats') { stats = true; args = args.slice(1); }
if (args.length === 0) {
  process.stderr.write('usage: node run.mjs [--stats] PROGRAM [ARGS...]\n');
  process.exit(125);
}

let wasm;
try {
  wasm = readFileSync(wasmPath);
} catch (e) {
  process.stderr.write(`friscy: cannot read ${wasmPath}: ${e.message}\n` +
    'build it with: cargo build --release --target wasm32-unknown-unknown -p friscy-web\n');
  process.exit(125);
}

let memory;
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
};

const { instance } = await WebAssembly.instantiate(wasm, { friscy_host: host });
const x = instance.exports;
memory = x.memory;

const program = args[0];
const elf = readFileSync(program);
const enc = new TextEncoder();
const env = Object.entries(process.env).map(([k, v]) => `${k}=${v}`);
const strs = [path.resolve(program), ...args, ...env].map((s) => enc.encode(s + '\0'));
const argLen = strs.reduce((n, s) => n + s.length, 0);

const elfPtr = x.friscy_alloc(elf.length);
bytes(elfPtr, elf.length).set(elf);
const argPtr = x.friscy_alloc(argLen);
let off = 0;
for (const s of strs) { bytes(argPtr + off, s.length).set(s); off += s.length; }

if (x.friscy_exec(elfPtr, elf.length, argPtr, argLen, args.length, env.length) !== 0) {
  process.exit(125);
}
const t0 = process.hrtime.bigint();
const status = x.friscy_run();
const secs = Number(process.hrtime.bigint() - t0) / 1e9;
if (stats) {
  const n = x.friscy_instret();
  process.stderr.write(`friscy-stats: instret=${n} seconds=${secs.toFixed(6)} mips=${(Number(n) / secs / 1e6).toFixed(1)}\n`);
}
process.exit(status);
