// Drives Debian's chromium (headless, through playwright-core; never a
// downloaded browser) against a friscy page and checks what a person would:
// the bash prompt, commands and their output, Ctrl-C, resizing, a reload
// from the cache. Prints one JSON line of figures; exits non-zero with a
// message on the first failure. A screenshot of the terminal is written.
//
//   node tests/browser/session.mjs URL SCREENSHOT.png [--quick | --startup | --expect-error TEXT | --expect-terminal TEXT]
//   (--startup: only the first prompt, cold and then after a reload)
import { chromium } from 'playwright-core';

const [url, shot, mode] = process.argv.slice(2);
if (!url || !shot) { console.error('usage: node session.mjs URL SCREENSHOT.png [--quick]'); process.exit(2); }
const quick = mode === '--quick';
const expectError = mode === '--expect-error' ? process.argv[5] : null;
const expectTerminal = mode === '--expect-terminal' ? process.argv[5] : null;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-background-networking', '--disable-dev-shm-usage'],
});
const fail = async (page, msg) => {
  let screen = '';
  try { screen = await text(page); } catch {}
  try { screen += '\n(phase: ' + await page.evaluate(() => window.friscy && JSON.stringify([window.friscy.phase, window.friscy.stats])) + ')'; } catch {}
  try { await page.screenshot({ path: shot }); } catch {}
  console.error(`browser session: ${msg}\n--- terminal ---\n${screen}\n---`);
  await browser.close();
  process.exit(1);
};

// The terminal's text, trailing blank lines dropped.
const text = (page) => page.evaluate(() => {
  const t = window.friscy && window.friscy.term;
  if (!t) return '';
  const b = t.buffer.active, out = [];
  // a line the terminal wrapped continues the one before it
  for (let i = 0; i < b.length; i++) {
    const line = b.getLine(i);
    if (line.isWrapped && out.length) out[out.length - 1] += line.translateToString(true);
    else out.push(line.translateToString(true));
  }
  while (out.length && out[out.length - 1] === '') out.pop();
  return out.join('\n');
});

async function waitFor(page, pred, what, ms = 60000) {
  const end = Date.now() + ms;
  for (;;) {
    const err = await page.evaluate(() => window.friscy && window.friscy.error);
    if (err) await fail(page, `the page says: ${err}`);
    const t = await text(page);
    if (pred(t)) return t;
    if (Date.now() > end) await fail(page, `timed out waiting for ${what}`);
    await page.waitForTimeout(50);
  }
}
const prompted = (t) => /[#$] $/.test(t.split('\n').pop() + ' ') || /[#$] ?$/.test(t.split('\n').pop());
const lines = async (page) => (await text(page)).split('\n').length;

async function run(page, cmd, expect, what) {
  const before = await lines(page);
  await page.keyboard.type(cmd);
  await page.keyboard.press('Enter');
  return waitFor(page, (t) => {
    const tail = t.split('\n').slice(before - 1).join('\n');
    return expect.test(tail) && prompted(t);
  }, what);
}

async function visit(page) {
  const t0 = Date.now();
  await page.goto(url);
  await waitFor(page, (t) => prompted(t) && t.length > 0, 'the first prompt');
  const ms = Date.now() - t0;
  const s = await page.evaluate(() => ({ ...window.friscy.stats }));
  return { ms, fetched: s.fetched, cached: s.cached };
}

const context = await browser.newContext({ viewport: { width: 1000, height: 600 } });
const page = await context.newPage();
page.on('pageerror', (e) => console.error(`page error: ${e.message}`));
page.on('response', (r) => { if (r.status() >= 400 && !r.url().endsWith('/favicon.ico')) console.error(`HTTP ${r.status()} ${r.url()}`); });
page.on('console', (m) => { if (m.type() === 'error') console.error(`console: ${m.text()}`); });
if (expectError) {
  await page.goto(url);
  const end = Date.now() + 30000;
  for (;;) {
    const err = await page.evaluate(() => window.friscy && window.friscy.error);
    if (err) {
      await page.screenshot({ path: shot });
      if (!err.includes(expectError)) await fail(page, `the page says ${JSON.stringify(err)}, not ${expectError}`);
      console.log(JSON.stringify({ error: err }));
      await browser.close();
      process.exit(0);
    }
    if (Date.now() > end) await fail(page, `no error shown (expected ${expectError})`);
    await page.waitForTimeout(100);
  }
}
if (expectTerminal) {
  // the text must show on the terminal, and the page must never have
  // used the bytes it refused
  await page.goto(url);
  const t = await waitFor(page, (t) => t.includes(expectTerminal), `"${expectTerminal}" on the terminal`, 30000);
  await page.screenshot({ path: shot });
  console.log(JSON.stringify({ terminal: t }));
  await browser.close();
  process.exit(0);
}
const cold = await visit(page);
if (mode === '--startup') {
  const warm = await visit(page);
  await page.screenshot({ path: shot });
  console.log(JSON.stringify({ cold_ms: cold.ms, cold_bytes: cold.fetched, warm_ms: warm.ms, warm_bytes: warm.fetched }));
  await browser.close();
  process.exit(0);
}
await run(page, 'echo $((6*7))', /\n42\n/, 'echo $((6*7))');
const figures = { cold_ms: cold.ms, cold_bytes: cold.fetched };
figures.translated = await page.evaluate(() => window.friscy.stats.translated || 0);
figures.regions = await page.evaluate(() => window.friscy.stats.regions || 0);
figures.runtime = await page.evaluate(() => window.friscy.runtime || null);
if (!quick) {
  await run(page, "python3 -c 'print(sum(range(10)))'", /\n45\n/, 'python3');
  await run(page, 'cat /etc/os-release', /Debian/, 'os-release');
  // a full-screen program
  await page.keyboard.type('busybox less /etc/passwd');
  await page.keyboard.press('Enter');
  await waitFor(page, (t) => /root:x:0:0/.test(t) && !prompted(t), 'less showing /etc/passwd');
  await page.keyboard.press('q');
  await waitFor(page, prompted, 'the prompt after less');
  // Ctrl-C ends a foreground sleep
  const before = await lines(page);
  await page.keyboard.type('sleep 100');
  await page.keyboard.press('Enter');
  await page.waitForTimeout(500);
  const t1 = Date.now();
  await page.keyboard.press('Control+C');
  await waitFor(page, (t) => t.split('\n').length > before && prompted(t), 'the prompt after Ctrl-C', 10000);
  figures.ctrl_c_ms = Date.now() - t1;
  // resizing the page changes the terminal's size
  const size1 = await run(page, 'stty size', /\n\d+ \d+\n/, 'stty size');
  const first = /\n(\d+ \d+)\n[^\n]*$/.exec(size1)[1];
  await page.setViewportSize({ width: 700, height: 400 });
  await page.waitForTimeout(300);
  const size2 = await run(page, 'stty size', /\n\d+ \d+\n/, 'stty size after resize');
  const second = /\n(\d+ \d+)\n[^\n]*$/.exec(size2)[1];
  if (first === second) await fail(page, `stty size stayed ${first} after the resize`);
  figures.sizes = [first, second];
  await page.screenshot({ path: shot });
  // a reload starts from the cache
  const warm = await visit(page);
  figures.warm_ms = warm.ms;
  figures.warm_bytes = warm.fetched;
  figures.warm_cached = warm.cached;
  if (warm.cached === 0) await fail(page, 'the reload read nothing from the cache');
  await run(page, 'echo again', /\nagain\n/, 'echo after reload');
} else {
  await page.screenshot({ path: shot });
}
console.log(JSON.stringify(figures));
await browser.close();
