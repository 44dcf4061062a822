// friscy's runtime in a Web Worker: the wasm32 kernel runs here, and blocks
// here. Terminal input, window size and file chunks come from the page
// through SharedArrayBuffers; waiting is Atomics.wait (no Asyncify).
//
// Shared state (set up by main.js, see there for the layout):
//   ctl[IN_HEAD]  bytes the page put in the input ring (mod RING)
//   ctl[IN_TAIL]  bytes this worker took
//   ctl[EVENT]    bumped (and notified) on input and on resize
//   ctl[ROWS], ctl[COLS]  the terminal's size
//   ctl[FETCH]    0 idle, 1 asked, 2 done, 3 failed; ctl[FETCH_LEN] bytes
//   ctl[SLEEP]    never changed: a place to sleep on

const IN_HEAD = 0, IN_TAIL = 1, EVENT = 2, ROWS = 3, COLS = 4, FETCH = 5, FETCH_LEN = 6, SLEEP = 7;
const EAGAIN = 11, EIO = 5;

let ctl, ring, data, memory, x;
const bytes = (ptr, len) => new Uint8Array(memory.buffer, Number(ptr), Number(len));
const t0 = performance.now();

// Output is batched: sent when the kernel waits, or when 64 KiB piled up.
let pending = [], pendingLen = 0, flushedAt = 0;
function flush() {
  flushedAt = performance.now();
  if (x && x.friscy_translated_instret) {
    postMessage({ t: 'translated', instret: Number(x.friscy_translated_instret()), regions: Number(x.friscy_translated_regions()), modules: Number(x.friscy_translated_modules()) });
  }
  if (pendingLen === 0) return;
  const out = new Uint8Array(pendingLen);
  let off = 0;
  for (const p of pending) { out.set(p, off); off += p.length; }
  pending = []; pendingLen = 0;
  postMessage({ t: 'out', data: out }, [out.buffer]);
}

function inputLen() {
  return (Atomics.load(ctl, IN_HEAD) - Atomics.load(ctl, IN_TAIL)) >>> 0;
}

const host = {
  write(fd, ptr, len) {
    const copy = bytes(ptr, len).slice();
    pending.push(copy); pendingLen += copy.length;
    if (pendingLen >= 65536 || performance.now() - flushedAt > 30) flush();
    return BigInt(len);
  },
  read(fd, ptr, len) {
    if (fd !== 0) return BigInt(-EIO);
    const n = Math.min(inputLen(), Number(len));
    if (n === 0) return BigInt(-EAGAIN);
    const out = bytes(ptr, n);
    let tail = Atomics.load(ctl, IN_TAIL);
    for (let i = 0; i < n; i++) { out[i] = ring[((tail + i) >>> 0) % ring.length]; }
    Atomics.store(ctl, IN_TAIL, (tail + n) | 0);
    return BigInt(n);
  },
  now(clock) {
    if (clock === 0) return Date.now() * 1e6;
    return (performance.now() - t0) * 1e6 + 1e9;
  },
  sleep(nanos) { flush(); Atomics.wait(ctl, SLEEP, 0, nanos / 1e6); },
  random(ptr, len) {
    const out = bytes(ptr, len);
    for (let off = 0; off < out.length; off += 65536) {
      crypto.getRandomValues(out.subarray(off, Math.min(out.length, off + 65536)));
    }
  },
  is_terminal() { return 1; },
  input_ready(fd) { return fd === 0 && inputLen() > 0 ? 1 : 0; },
  wait_input(nanos) {
    flush();
    // read the event count first: input that lands after it wakes the wait
    const seen = Atomics.load(ctl, EVENT);
    if (inputLen() > 0) return 1;
    Atomics.wait(ctl, EVENT, seen, nanos < 0 ? Infinity : nanos / 1e6);
    return inputLen() > 0 ? 1 : 0;
  },
  window_size() {
    const rows = Atomics.load(ctl, ROWS), cols = Atomics.load(ctl, COLS);
    return rows > 0 && cols > 0 ? ((rows << 16) | cols) >>> 0 : 0;
  },
  // translated code (docs/aot.md): instantiated against the runtime's
  // memory and helpers, entered through its function table
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
      // its functions, in consecutive slots (it exports their number and
      // a function that installs them: see friscy_aot::abi)
      const slot = table.grow(linked.exports.functions.value);
      linked.exports.install(slot);
      return slot;
    } catch (e) {
      console.error(`friscy: cannot link translated code: ${e.message}`);
      return -1;
    }
  },
  // modules translated ahead of time come with the image, which the
  // runtime reads itself (through fetch): the page has none of its own
  module_size() { return -1n; },
  module_read() { return -1n; },
  fetch(layer, offset, len, ptr) {
    if (len > data.length) return BigInt(-EIO);
    Atomics.store(ctl, FETCH, 1);
    postMessage({ t: 'fetch', layer, offset, len });
    Atomics.wait(ctl, FETCH, 1);
    if (Atomics.load(ctl, FETCH) !== 2) { Atomics.store(ctl, FETCH, 0); return BigInt(-EIO); }
    const n = Atomics.load(ctl, FETCH_LEN);
    bytes(ptr, n).set(data.subarray(0, n));
    Atomics.store(ctl, FETCH, 0);
    return BigInt(n);
  },
};

onmessage = async (ev) => {
  const m = ev.data;
  if (m.t !== 'start') return;
  ctl = new Int32Array(m.ctl); ring = new Uint8Array(m.ring); data = new Uint8Array(m.data);
  try {
    const instance = await WebAssembly.instantiate(m.module, { friscy_host: host });
    x = instance.exports; memory = x.memory;
    x.friscy_memory_limit(m.memoryMib);
    x.friscy_translate({ off: 0, force: 1, modules: 2 }[m.translate] ?? 2);
    if (m.hot > 0) x.friscy_translate_after(m.hot);
    const enc = new TextEncoder();
    for (const [i, index] of m.indexes.entries()) {
      const ptr = x.friscy_alloc(index.byteLength);
      bytes(ptr, index.byteLength).set(new Uint8Array(index));
      // the runtime checks the index against the digest the config pins
      const digest = enc.encode(m.digests[i] || '');
      const dptr = x.friscy_alloc(digest.length);
      bytes(dptr, digest.length).set(digest);
      if (x.friscy_index(ptr, index.byteLength, dptr, digest.length) !== 0) {
        flush();
        postMessage({ t: 'error', message: `layer ${i + 1}: its index does not match the digest the image pins (the image is corrupt or was tampered with)` });
        return;
      }
    }
    const strs = [m.argv[0], m.workdir, ...m.argv, ...m.env].map((s) => enc.encode(s + '\0'));
    const len = strs.reduce((n, s) => n + s.length, 0);
    const ptr = x.friscy_alloc(len);
    let off = 0;
    for (const s of strs) { bytes(ptr + off, s.length).set(s); off += s.length; }
    if (x.friscy_boot(ptr, len, m.argv.length, m.env.length, m.uid, m.gid) !== 0) {
      flush(); postMessage({ t: 'exit', status: 125 }); return;
    }
    postMessage({ t: 'started' });
    const status = x.friscy_run();
    flush();
    postMessage({ t: 'exit', status });
  } catch (e) {
    flush();
    postMessage({ t: 'error', message: String(e && e.stack || e) });
  }
};
