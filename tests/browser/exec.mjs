// Runs a static riscv64 program on friscy's wasm32 build inside Debian's
// chromium (headless, playwright-core), in a Web Worker of a
// cross-origin-isolated page served from 127.0.0.1 — the way the browser
// runtime runs. Prints the program's stdout, exits with its status; the
// run's in-page seconds go to stderr as `friscy-browser: seconds=S`.
//
//   node tests/browser/exec.mjs PROGRAM [ARG...]
//
// FRISCY_AOT=DIR: the program's module translated ahead of time
// (`friscy aot`, DIR/<sha256 of PROGRAM>.wasm) goes with it, and the
// runtime runs the program's hot code from it, as the page does.
//
// scripts/bench uses it as a runner: scripts/bench --compare browser="node tests/browser/exec.mjs"
import { chromium } from 'playwright-core';
import { createServer } from 'node:http';
import { readFileSync, existsSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const here = path.dirname(fileURLToPath(import.meta.url));
const wasmPath = process.env.FRISCY_WASM ||
  path.join(here, '../../target/wasm32-unknown-unknown/release/friscy_web.wasm');
const [program, ...args] = process.argv.slice(2);
if (!program) { console.error('usage: node exec.mjs PROGRAM [ARG...]'); process.exit(125); }

const elfBytes = readFileSync(program);
const key = createHash('sha256').update(elfBytes).digest('hex');
const modulePath = process.env.FRISCY_AOT ? path.join(process.env.FRISCY_AOT, `${key}.wasm`) : null;
const worker = `
let memory, out = [];
const bytes = (p, n) => new Uint8Array(memory.buffer, Number(p), Number(n));
const sab = new Int32Array(new SharedArrayBuffer(4));
const t0 = performance.now();
const host = {
  write(fd, p, n) { out.push({ fd, data: bytes(p, n).slice() }); return BigInt(n); },
  read() { return 0n; },
  now(c) { return c === 0 ? Date.now() * 1e6 : (performance.now() - t0) * 1e6 + 1e9; },
  sleep(ns) { Atomics.wait(sab, 0, 0, ns / 1e6); },
  random(p, n) { const b = bytes(p, n); for (let o = 0; o < b.length; o += 65536) crypto.getRandomValues(b.subarray(o, Math.min(b.length, o + 65536))); },
  is_terminal() { return 0; }, input_ready() { return 0; }, wait_input() { return 0; },
  window_size() { return 0; }, fetch() { return -5n; },
  // the program's module, if it came with one (by its sha256)
  module_size(key) { return module && hex(key) === moduleKey ? BigInt(module.byteLength) : -1n; },
  module_read(key, p, n) {
    if (!module || hex(key) !== moduleKey || n !== module.byteLength) return -1n;
    bytes(p, n).set(new Uint8Array(module));
    return BigInt(n);
  },
  link(ptr, len, base) {
    try {
      const code = new WebAssembly.Module(bytes(ptr, len).slice());
      const table = x.__indirect_function_table;
      const linked = new WebAssembly.Instance(code, {
        env: {
          memory, table, load: x.friscy_aot_load, store: x.friscy_aot_store, exec: x.friscy_aot_exec,
          base: new WebAssembly.Global({ value: 'i64', mutable: false }, base),
        },
      });
      const slot = table.grow(linked.exports.functions.value);
      linked.exports.install(slot);
      return slot;
    } catch (e) { return -1; }
  },
};
let x, module = null, moduleKey = '';
const hex = (p) => Array.from(bytes(p, 32), (b) => b.toString(16).padStart(2, '0')).join('');
onmessage = async (ev) => {
  const { wasm, elf, argv, aot, key } = ev.data;
  const { instance } = await WebAssembly.instantiate(wasm, { friscy_host: host });
  x = instance.exports; memory = x.memory;
  if (aot) { module = aot; moduleKey = key; x.friscy_translate(2); }
  const enc = new TextEncoder();
  const strs = ['/program', ...argv].map((s) => enc.encode(s + '\\0'));
  const len = strs.reduce((n, s) => n + s.length, 0);
  const ap = x.friscy_alloc(len); let off = 0;
  for (const s of strs) { bytes(ap + off, s.length).set(s); off += s.length; }
  const ep = x.friscy_alloc(elf.byteLength); bytes(ep, elf.byteLength).set(new Uint8Array(elf));
  if (x.friscy_exec(ep, elf.byteLength, ap, len, argv.length, 0) !== 0) { postMessage({ status: 125, out, secs: 0 }); return; }
  const s0 = performance.now();
  const status = x.friscy_run();
  postMessage({ status, out, secs: (performance.now() - s0) / 1000 });
};`;
const page = `<!doctype html><script type="module">
const [wasm, elf, aot] = await Promise.all([fetch('/friscy_web.wasm').then((r) => r.arrayBuffer()), fetch('/program').then((r) => r.arrayBuffer()),
  fetch('/module.wasm').then((r) => (r.ok ? r.arrayBuffer() : null))]);
const w = new Worker('/worker.js');
window.result = new Promise((resolve) => { w.onmessage = (e) => resolve(e.data); });
w.postMessage({ wasm, elf, aot, key: ${JSON.stringify(key)}, argv: ${JSON.stringify([path.basename(program), ...args])} });
</script>`;

const files = {
  '/': ['text/html', page],
  '/worker.js': ['text/javascript', worker],
  '/friscy_web.wasm': ['application/wasm', readFileSync(wasmPath)],
  '/program': ['application/octet-stream', elfBytes],
};
if (modulePath && existsSync(modulePath)) files['/module.wasm'] = ['application/wasm', readFileSync(modulePath)];
const server = createServer((req, res) => {
  const f = files[req.url];
  if (!f) { res.writeHead(404); res.end(); return; }
  res.writeHead(200, {
    'Content-Type': f[0],
    'Cross-Origin-Opener-Policy': 'same-origin',
    'Cross-Origin-Embedder-Policy': 'require-corp',
  });
  res.end(f[1]);
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-background-networking', '--disable-dev-shm-usage'],
});
let status = 125;
try {
  const p = await browser.newPage();
  await p.goto(`http://localhost:${server.address().port}/`);
  await p.waitForFunction(() => window.result !== undefined, null, { timeout: 60000 });
  const r = await p.evaluate(() => window.result.then((v) => ({
    status: v.status, secs: v.secs, out: v.out.map((o) => ({ fd: o.fd, data: Array.from(o.data) })),
  })));
  for (const o of r.out) (o.fd === 2 ? process.stderr : process.stdout).write(Buffer.from(o.data));
  process.stderr.write(`friscy-browser: seconds=${r.secs.toFixed(6)}\n`);
  status = r.status;
} finally {
  await browser.close();
  server.close();
}
process.exit(status);
