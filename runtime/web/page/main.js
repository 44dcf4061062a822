// friscy's page: a terminal (xterm.js) in front of the runtime, which runs
// in a Web Worker (worker.js). The image is a friscy image
// (docs/image-format.md): its layers' indexes are read first, file chunks
// when the guest first opens a file, each by an HTTP range request, and
// every range is kept in the Cache API by blob digest, so a second visit
// (and another image on the same base) starts from the cache.
//
// Where the image comes from:
//   - `image.json` beside the page (what `friscy serve` and `friscy export`
//     provide): {name, config: {Entrypoint, Cmd, Env, WorkingDir, User},
//     layers: [{digest, size, url, index: [offset, length], index_digest}]};
//   - `?image=REGISTRY/REPO[:TAG]`: straight from a registry that allows
//     CORS (OCI distribution API).
//
// Nothing fetched is trusted unchecked: a manifest named by digest and the
// config are checked here against their digests, each layer's index
// against the digest the config pins (in the runtime, friscy_index), and
// every file chunk against the digest the index names (in the runtime).
import { Terminal } from './xterm/xterm.mjs';
import { FitAddon } from './xterm/addon-fit.mjs';

const IN_HEAD = 0, IN_TAIL = 1, EVENT = 2, ROWS = 3, COLS = 4, FETCH = 5, FETCH_LEN = 6;
const CACHE = 'friscy-blobs-v1';
// The container's memory limit in MiB (`?memory=MiB`; 0: none): wasm32
// memory ends at 4 GiB, and a tab should leave the browser room.
const DEFAULT_MEMORY_MIB = 2048;
// The contract between this page and the runtime files an image carries
// (friscy_web.wasm, worker.js: the messages, the shared buffers); the
// page uses an image's runtime only when it says the same (converter's
// RUNTIME_PROTOCOL), else its own.
const RUNTIME_PROTOCOL = 1;

const $ = (id) => document.getElementById(id);
const stats = { fetched: 0, cached: 0, start: performance.now(), firstOutput: null, exited: null };
window.friscy = { stats, phase: 'starting' };

function phase(text) {
  window.friscy.phase = text;
  $('phase').textContent = text;
}
function progress() {
  $('bytes').textContent = `${(stats.fetched / 1e6).toFixed(2)} MB fetched, ${(stats.cached / 1e6).toFixed(2)} MB from cache`;
}
function fail(title, detail) {
  window.friscy.error = `${title}: ${detail}`;
  $('loading').hidden = true;
  $('error').hidden = false;
  $('error-title').textContent = title;
  $('error-detail').textContent = detail;
}

// ---- fetching ----

let cache = null;
const whole = new Map(); // digest -> Promise<Uint8Array>, for servers without ranges

async function openCache() {
  try { cache = await caches.open(CACHE); } catch { cache = null; }
}

async function cached(key) {
  if (!cache) return null;
  const r = await cache.match(key);
  if (!r) return null;
  const b = new Uint8Array(await r.arrayBuffer());
  stats.cached += b.length;
  return b;
}

function remember(key, bytes) {
  if (cache) cache.put(key, new Response(bytes)).catch(() => {});
}

async function http(url, init, what) {
  let r;
  try { r = await fetch(url, init); } catch (e) {
    throw new Error(`cannot reach ${new URL(url, location.href).host} for ${what} (${e.message})`);
  }
  if (r.status === 404) throw new Error(`${what}: not found (HTTP 404 from ${url})`);
  if (r.status === 401 || r.status === 403) throw new Error(`${what}: the server refused access (HTTP ${r.status})`);
  if (!r.ok) throw new Error(`${what}: HTTP ${r.status} from ${url}`);
  return r;
}

// Ranges being fetched, so that a prefetch and a request share one fetch.
const inflight = new Map();

// `len` bytes at `off` of the blob `layer`, from the cache or the network.
function range(layer, off, len) {
  const k = `${layer.digest}/${off}-${len}`;
  if (!inflight.has(k)) {
    const p = fetchRange(layer, off, len);
    inflight.set(k, p);
    p.then(() => inflight.delete(k), () => inflight.delete(k));
  }
  return inflight.get(k);
}

// What the image's program reads to start ([layer, offset, length] from
// image.json), fetched a few at a time ahead of the runtime's requests.
function prefetch(image, list) {
  let next = 0;
  const lane = async () => {
    while (next < list.length) {
      const [l, off, len] = list[next++];
      const layer = image.layers[l];
      if (layer) await range(layer, off, len).catch(() => {});
    }
  };
  for (let i = 0; i < 6; i++) lane();
}

async function fetchRange(layer, off, len) {
  const key = `${location.origin}/.friscy-cache/${layer.digest}/${off}-${len}`;
  const hit = await cached(key);
  if (hit) return hit;
  // The first request to a blob finds out whether the server does ranges;
  // the others wait for that answer.
  let bytes;
  if (!layer.probe) {
    layer.probe = rangeOrWhole(layer, off, len);
    bytes = await layer.probe;
  } else {
    await layer.probe.catch(() => {});
    bytes = await rangeOrWhole(layer, off, len);
  }
  if (bytes.length !== len) throw new Error(`layer ${layer.digest}: got ${bytes.length} of ${len} bytes`);
  remember(key, bytes);
  progress();
  return bytes;
}

async function rangeOrWhole(layer, off, len) {
  if (whole.has(layer.digest)) return (await whole.get(layer.digest)).slice(off, off + len);
  const r = await http(layer.url, { headers: { Range: `bytes=${off}-${off + len - 1}` } }, `layer ${layer.digest}`);
  if (r.status === 206) {
    const bytes = new Uint8Array(await r.arrayBuffer());
    stats.fetched += bytes.length;
    return bytes;
  }
  // no range support: take the whole blob, once
  const all = r.arrayBuffer().then((b) => { stats.fetched += b.byteLength; return new Uint8Array(b); });
  whole.set(layer.digest, all);
  return (await all).slice(off, off + len);
}

// ---- the image ----

const DIGEST = /^sha256:[0-9a-f]{64}$/;

async function sha256(bytes) {
  const h = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  return 'sha256:' + Array.from(h, (b) => b.toString(16).padStart(2, '0')).join('');
}

// The body of `r`, which must hash to `digest`.
async function checked(r, digest, what) {
  const bytes = new Uint8Array(await r.arrayBuffer());
  stats.fetched += bytes.length;
  const got = await sha256(bytes);
  if (got !== digest) throw new Error(`${what} is ${got}, not ${digest}: the registry sent something else`);
  return bytes;
}

const MANIFEST_TYPES = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');

function imageFromConfig(name, config, layers) {
  const labels = (config.config && config.config.Labels) || {};
  if (config.architecture !== 'riscv64' || config.os !== 'linux') {
    throw new Error(`${name} is an image for ${config.os}/${config.architecture}; friscy runs linux/riscv64 images`);
  }
  if (!labels['dev.friscy.format']) {
    throw new Error(`${name} is not a friscy image: convert it with \`friscy convert ${name} docker://${name}\``);
  }
  // format 3 lists modules of translated code in the indexes, which the
  // runtime reads itself; format 2 has none
  if (!['2', '3'].includes(labels['dev.friscy.format'])) throw new Error(`${name} is friscy image format ${labels['dev.friscy.format']}; this page reads formats 2 and 3 (convert its source again with this friscy)`);
  const infos = JSON.parse(labels['dev.friscy.layers'] || '[]');
  if (infos.length !== layers.length) throw new Error(`${name}: ${layers.length} layers but ${infos.length} indexes`);
  return {
    name,
    runtime: runtimeOf(config.config, layers),
    config: config.config || {},
    layers: layers.map((l, i) => {
      if (infos[i].digest === '') {
        throw new Error(`${name}: layer ${i + 1} was written by BuildKit (the friscy frontend), so it cannot be read by range; make the image lazily readable with \`friscy push\``);
      }
      if (l.digest !== infos[i].digest) {
        throw new Error(`${name}: layer ${i + 1} was recompressed (a plain \`docker push\` does that); push it with \`friscy push\``);
      }
      if (!DIGEST.test(infos[i].index_digest || '')) throw new Error(`${name}: layer ${i + 1} has no index digest`);
      return { ...l, index: infos[i].index, index_digest: infos[i].index_digest };
    }),
  };
}

// REGISTRY/REPO[:TAG][@DIGEST] as the distribution grammar has them.
const REFERENCE = new RegExp(
  '^((?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]{1,5})?|\\[[0-9a-fA-F:.]+\\](?::[0-9]{1,5})?)' +
  '/([a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*)' +
  '(?::([A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?(?:@(sha256:[0-9a-f]{64}))?$');

async function fromRegistry(ref) {
  const m = REFERENCE.exec(ref);
  if (!m) throw new Error(`?image=${ref}: expected REGISTRY/REPO[:TAG] (lower-case repository; tags of letters, digits, _ . -)`);
  const [, registry, repo, tag, digest] = m;
  const local = /^(localhost|127\.0\.0\.1|\[::1\])(:\d+)?$/.test(registry);
  const base = `${local ? 'http' : 'https'}://${registry}/v2/${repo}`;
  let reference = digest || tag || 'latest';
  for (let depth = 0; depth < 4; depth++) {
    const r = await http(`${base}/manifests/${reference}`, { headers: { Accept: MANIFEST_TYPES } }, `image ${ref}`);
    // a manifest asked for by digest must be that one; by tag, the
    // registry's word is all there is (as for docker pull)
    const raw = DIGEST.test(reference)
      ? await checked(r, reference, `manifest ${reference}`)
      : new Uint8Array(await r.arrayBuffer());
    if (!DIGEST.test(reference)) stats.fetched += raw.length;
    const doc = JSON.parse(new TextDecoder().decode(raw));
    if (doc.manifests) {
      const pick = doc.manifests.find((d) => d.platform && d.platform.os === 'linux' && d.platform.architecture === 'riscv64');
      if (!pick) throw new Error(`${ref} has no linux/riscv64 image`);
      if (!DIGEST.test(pick.digest || '')) throw new Error(`${ref}: its index names the riscv64 image by ${JSON.stringify(pick.digest)}, not a digest`);
      reference = pick.digest;
      continue;
    }
    const bad = [doc.config, ...(doc.layers || [])].find((d) => !d || !DIGEST.test(d.digest || ''));
    if (bad !== undefined) throw new Error(`${ref}: its manifest names a blob by ${JSON.stringify(bad && bad.digest)}, not a digest`);
    const cfgBytes = await checked(await http(`${base}/blobs/${doc.config.digest}`, {}, `config of ${ref}`), doc.config.digest, `the config of ${ref}`);
    const cfg = JSON.parse(new TextDecoder().decode(cfgBytes));
    const layers = doc.layers.map((l) => ({ digest: l.digest, size: l.size, url: `${base}/blobs/${l.digest}` }));
    return imageFromConfig(ref, cfg, layers);
  }
  throw new Error(`${ref}: image indexes nest too deeply`);
}

async function fromServer() {
  const r = await http('image.json', { cache: 'no-cache' }, 'the image description (image.json)');
  const img = await r.json();
  const layers = img.layers.map((l) => ({ ...l, url: new URL(l.url, location.href).href }));
  return { ...img, layers, runtime: runtimeOf(img.config, layers) };
}

// The runtime the image carries (its `dev.friscy.runtime` label), if this
// page can use it.
function runtimeOf(config, layers) {
  const labels = (config && config.Labels) || {};
  if (!labels['dev.friscy.runtime']) return null;
  let r;
  try { r = JSON.parse(labels['dev.friscy.runtime']); } catch (e) { return null; }
  if (r.protocol !== RUNTIME_PROTOCOL || !layers[r.layer] || !Array.isArray(r.files)) {
    console.warn(`friscy: the image's runtime (friscy ${r.friscy}, protocol ${r.protocol}) is not this page's; using the page's own`);
    return null;
  }
  return r;
}

// The runtime's files from the image: each a gzip member of the runtime
// layer (a tar header, then the bytes), checked against the digest the
// config pins.
async function imageRuntime(image) {
  const r = image.runtime;
  const files = {};
  for (const f of r.files) {
    if (!DIGEST.test(f.digest || '')) throw new Error(`the image's ${f.name} has no digest`);
    const member = await range(image.layers[r.layer], f.offset, f.length);
    const tar = new Uint8Array(await new Response(new Blob([member]).stream().pipeThrough(new DecompressionStream('gzip'))).arrayBuffer());
    const data = tar.slice(512, 512 + f.size);
    if (data.length !== f.size || await sha256(data) !== f.digest) {
      throw new Error(`the image's ${f.name} does not match its digest: the image is corrupt or was tampered with`);
    }
    files[f.name] = data;
  }
  if (!files['friscy_web.wasm'] || !files['worker.js']) throw new Error('the image\'s runtime lacks friscy_web.wasm or worker.js');
  return {
    module: await WebAssembly.compile(files['friscy_web.wasm']),
    worker: URL.createObjectURL(new Blob([files['worker.js']], { type: 'text/javascript' })),
  };
}

// ---- the terminal and the worker ----

function command(cfg) {
  const entry = cfg.Entrypoint || [];
  const cmd = cfg.Cmd || [];
  const argv = [...entry, ...cmd];
  return argv.length ? argv : ['/bin/sh'];
}

function environment(env, uid) {
  const out = [...(env || ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'])];
  const has = (k) => out.some((e) => e.startsWith(k + '='));
  if (!has('HOME')) out.push(uid === 0 ? 'HOME=/root' : 'HOME=/');
  if (!has('TERM')) out.push('TERM=xterm-256color');
  if (!has('HOSTNAME')) out.push('HOSTNAME=friscy');
  return out;
}

async function main() {
  if (!window.crossOriginIsolated || typeof SharedArrayBuffer === 'undefined') {
    const why = typeof SharedArrayBuffer === 'undefined' && !window.crossOriginIsolated
      ? 'The page is not cross-origin isolated, so this browser gives it no SharedArrayBuffer.'
      : 'This browser lacks SharedArrayBuffer.';
    fail('This page needs SharedArrayBuffer',
      `${why} Serve it with the headers "Cross-Origin-Opener-Policy: same-origin" and ` +
      '"Cross-Origin-Embedder-Policy: require-corp" (friscy serve does; see docs/web.md), ' +
      'over https or from localhost, in a browser that supports them.');
    return;
  }
  await openCache();
  phase('reading the image');
  const param = new URLSearchParams(location.search).get('image');
  let image;
  try {
    image = param ? await fromRegistry(param) : await fromServer();
  } catch (e) {
    fail('Cannot load the image', e.message);
    return;
  }
  window.friscy.image = image.name;
  $('title').textContent = image.name;
  document.title = `${image.name} — friscy`;

  phase('reading the file system indexes');
  if (Array.isArray(image.prefetch)) prefetch(image, image.prefetch);
  // the runtime: the image's own (so a page given only ?image= needs
  // nothing else from its server), else the page's
  window.friscy.runtime = image.runtime ? 'image' : 'page';
  const runtime = image.runtime
    ? imageRuntime(image)
    : WebAssembly.compileStreaming(fetch('friscy_web.wasm')).then((module) => ({ module, worker: 'worker.js' }));
  let indexes;
  try {
    indexes = await Promise.all(image.layers.map((l) => range(l, l.index[0], l.index[1]).then((b) => b.slice().buffer)));
  } catch (e) {
    fail('Cannot read the image', e.message);
    return;
  }
  phase('starting the runtime');
  let module, workerUrl;
  try { ({ module, worker: workerUrl } = await runtime); } catch (e) { fail(`Cannot load the runtime (friscy_web.wasm, from the ${window.friscy.runtime})`, e.message); return; }

  const term = new Terminal({ cursorBlink: true, scrollback: 5000, fontSize: 15, allowProposedApi: true });
  const fit = new FitAddon();
  term.loadAddon(fit);
  term.open($('terminal'));
  fit.fit();
  window.friscy.term = term;

  const ctl = new Int32Array(new SharedArrayBuffer(64));
  const ring = new Uint8Array(new SharedArrayBuffer(65536));
  const data = new Uint8Array(new SharedArrayBuffer(4 << 20));
  const resized = () => {
    Atomics.store(ctl, ROWS, term.rows);
    Atomics.store(ctl, COLS, term.cols);
    Atomics.add(ctl, EVENT, 1);
    Atomics.notify(ctl, EVENT);
  };
  resized();
  const enc = new TextEncoder();
  const queue = [];
  const pump = () => {
    while (queue.length) {
      const head = Atomics.load(ctl, IN_HEAD), tail = Atomics.load(ctl, IN_TAIL);
      const free = ring.length - ((head - tail) >>> 0);
      if (free === 0) { setTimeout(pump, 5); return; }
      const chunk = queue[0];
      const n = Math.min(free, chunk.length);
      for (let i = 0; i < n; i++) ring[((head + i) >>> 0) % ring.length] = chunk[i];
      Atomics.store(ctl, IN_HEAD, (head + n) | 0);
      if (n === chunk.length) queue.shift(); else queue[0] = chunk.subarray(n);
      Atomics.add(ctl, EVENT, 1);
      Atomics.notify(ctl, EVENT);
    }
  };
  term.onData((s) => { queue.push(enc.encode(s)); pump(); });
  term.onBinary((s) => { queue.push(Uint8Array.from(s, (c) => c.charCodeAt(0) & 255)); pump(); });
  term.onResize(resized);
  window.addEventListener('resize', () => fit.fit());

  const worker = new Worker(workerUrl);
  worker.onmessage = async (ev) => {
    const m = ev.data;
    if (m.t === 'out') {
      if (stats.firstOutput === null) {
        stats.firstOutput = performance.now();
        $('loading').hidden = true;
        term.focus();
      }
      term.write(m.data);
    } else if (m.t === 'fetch') {
      stats.requests = (stats.requests || 0) + 1;
      stats.waiting = `${m.layer}:${m.offset}+${m.len}`;
      try {
        const b = await range(image.layers[m.layer], m.offset, m.len);
        data.set(b);
        Atomics.store(ctl, FETCH_LEN, b.length);
        Atomics.store(ctl, FETCH, 2);
        stats.waiting = null;
      } catch (e) {
        console.error(e);
        term.write(`\r\nfriscy: ${e.message}\r\n`);
        Atomics.store(ctl, FETCH, 3);
      }
      Atomics.notify(ctl, FETCH);
    } else if (m.t === 'translated') {
      // instructions retired in translated code, and regions translated
      stats.translated = m.instret;
      stats.regions = m.regions;
      stats.modules = m.modules;
    } else if (m.t === 'started') {
      stats.started = performance.now();
    } else if (m.t === 'exit') {
      stats.exited = m.status;
      $('loading').hidden = true;
      term.write(`\r\n[the container exited with status ${m.status}; reload the page to start it again]\r\n`);
    } else if (m.t === 'error') {
      fail('The runtime failed', m.message);
    }
  };
  worker.onerror = (e) => fail('The runtime failed', e.message);
  const cfg = image.config;
  const asked = new URLSearchParams(location.search).get('memory');
  const memoryMib = /^\d+$/.test(asked || '') ? Math.min(Number(asked), 4095) : DEFAULT_MEMORY_MIB;
  window.friscy.memoryMib = memoryMib;
  // translated code (docs/aot.md): by default the image's modules, for
  // code that has run about as long as linking it costs (?hot=N links
  // N/256 times as soon; 1 at once);
  // ?translate=force also translates every other block at its first run,
  // ?translate=off interprets everything
  const query = new URLSearchParams(location.search);
  const translate = query.get('translate') || 'modules';
  const hot = /^[1-9]\d*$/.test(query.get('hot') || '') ? Number(query.get('hot')) : 0;
  const [uid, gid] = String(cfg.User || '0:0').split(':').map((v) => (/^\d+$/.test(v || '') ? Number(v) : 0));
  worker.postMessage({
    t: 'start', module, indexes, digests: image.layers.map((l) => l.index_digest || ''), ctl: ctl.buffer, ring: ring.buffer, data: data.buffer,
    argv: command(cfg), workdir: cfg.WorkingDir || '/', memoryMib, translate, hot,
    env: environment(cfg.Env, uid || 0),
    uid: uid || 0, gid: gid || 0,
  });
  phase('running');
}

main().catch((e) => fail('The page failed', e.stack || String(e)));
