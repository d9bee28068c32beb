// End-to-end test of the Weightscope custom editor in a real VS Code (code-server), driven by
// Debian's headless Chromium through playwright-core. Started by test/e2e/run.sh, which
// installs the .vsix, prepares the workspace and serves it; this file only drives the browser.
//
// Environment (set by run.sh):
//   E2E_URL        code-server base URL (http://127.0.0.1:PORT/)
//   E2E_WORKSPACE  the folder code-server serves (fixtures copied there)
//   E2E_FIXTURES   test/fixtures/safetensors (ground-truth.json is read from here)
//   E2E_OUT        where screenshots and logs go (test-output/e2e)
//   E2E_RESULTS    JSON file for the results ({passed, failed, tests})
//
// DOM contract of the webview (issue 4):
//   [data-testid="summary-unique"][data-value]   unique parameter count (shared storage once)
//   [data-testid="summary-total"][data-value]    plain total
//   [role="treeitem"][data-path="<dotted path>"] module rows (root: data-path="(root)")
//   .shared-highlight                            rows lit while a row sharing storage is hovered
//   #tooltip[role="tooltip"]                     hover tooltip
//   svg .tie-link[data-shared="name1 name2"]     link between modules sharing storage
//   [data-testid="error"]                        error shown inside the editor
import { chromium } from 'playwright-core';
import { readFileSync, writeFileSync, mkdirSync, appendFileSync, existsSync, statSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import path from 'node:path';

const URL_BASE = must('E2E_URL');
const WORKSPACE = must('E2E_WORKSPACE');
const FIXTURES = must('E2E_FIXTURES');
const OUT = must('E2E_OUT');
const RESULTS = process.env.E2E_RESULTS || path.join(OUT, 'results.json');
const CONSOLE_LOG = path.join(OUT, 'browser-console.log');

const T_WORKBENCH = 60_000; // first load of the workbench (extension host start included)
const T_WEBVIEW = 45_000; // a custom editor's webview with its content
const T_UI = 10_000; // anything reacting to a key press or a hover

const TIED = 'gpt2-tied';
const UNTIED = 'gpt2-untied';
const TIED_FILE = `${TIED}/model.safetensors`;
const UNTIED_FILE = `${UNTIED}/model.safetensors`;
const BROKEN_FILE = 'broken/broken.safetensors';

function must(name) {
  const v = process.env[name];
  if (!v) {
    console.error(`e2e.mjs: ${name} is not set (run it through test/e2e/run.sh)`);
    process.exit(2);
  }
  return v;
}

mkdirSync(OUT, { recursive: true });
writeFileSync(CONSOLE_LOG, '');

// ------------------------------------------------------------------ ground truth
let groundTruth = null;
let groundTruthError = null;
try {
  groundTruth = JSON.parse(readFileSync(path.join(FIXTURES, 'ground-truth.json'), 'utf8'));
} catch (e) {
  groundTruthError = `cannot read ${path.join(FIXTURES, 'ground-truth.json')}: ${e.message}`;
}
/** {unique, total} parameter counts of a fixture, as decimal strings. */
function expectedParams(fixture) {
  if (!groundTruth) throw new Error(groundTruthError);
  const entry = groundTruth[fixture] ?? groundTruth.fixtures?.[fixture] ?? groundTruth[`${fixture}/model.safetensors`];
  const p = entry?.parameters;
  if (p?.unique === undefined || p?.total === undefined) {
    throw new Error(`ground-truth.json has no ${fixture}.parameters.{unique,total} (keys: ${Object.keys(groundTruth).join(', ')})`);
  }
  return { unique: String(p.unique), total: String(p.total) };
}

// ------------------------------------------------------------------ tiny runner
const results = [];
let shot = 0;
let page;

async function screenshot(name) {
  if (!page) return null;
  const file = path.join(OUT, `${String(++shot).padStart(2, '0')}-${name}.png`);
  try {
    await page.screenshot({ path: file, timeout: 10_000 });
    return file;
  } catch (e) {
    console.error(`    (screenshot ${file} failed: ${e.message.split('\n')[0]})`);
    return null;
  }
}

/** Runs one step; a step whose prerequisite failed fails at once with that reason. */
async function step(name, { needs = [], shotName }, fn) {
  const t0 = Date.now();
  const blocked = needs.map((n) => results.find((r) => r.name === n)).filter((r) => !r || !r.ok);
  let error = null;
  if (blocked.length) {
    error = `not run: needs "${blocked.map((r) => r?.name ?? '?').join('", "')}", which failed`;
  } else {
    try {
      await fn();
    } catch (e) {
      error = e?.message ?? String(e);
    }
  }
  const file = blocked.length ? null : await screenshot(shotName + (error ? '-FAILED' : ''));
  const ms = Date.now() - t0;
  results.push({ name, ok: !error, error, ms, screenshot: file && path.relative(process.cwd(), file) });
  if (error) console.log(`  ✗ ${name} (${ms} ms)\n      ${error.split('\n').join('\n      ')}`);
  else console.log(`  ✓ ${name} (${ms} ms)`);
}

/** Waits for a locator state; on timeout throws `message` (plus what was seen, if given). */
async function waitFor(locator, state, timeout, message, seen) {
  try {
    await locator.first().waitFor({ state, timeout });
  } catch (e) {
    let extra = '';
    if (seen) {
      try {
        extra = `; seen: ${await seen()}`;
      } catch {}
    }
    throw new Error(`${message} (waited ${timeout} ms for ${state})${extra}`);
  }
}

// ------------------------------------------------------------------ workbench helpers
/** The content frame of the visible Weightscope webview. */
function webview() {
  return page
    .locator('iframe.webview.ready')
    .filter({ visible: true })
    .first()
    .contentFrame()
    .locator('#active-frame')
    .contentFrame();
}

async function runCommand(label) {
  await page.keyboard.press('F1');
  const input = page.locator('.quick-input-widget input');
  await waitFor(input, 'visible', T_UI, 'the command palette did not open on F1');
  await input.fill(`>${label}`);
  const row = page.locator('.quick-input-list .monaco-list-row', { hasText: label });
  await waitFor(row, 'visible', T_UI, `the command palette did not list "${label}"`);
  await row.first().click();
  await waitFor(page.locator('.quick-input-widget'), 'hidden', T_UI, `the command palette stayed open after "${label}"`);
}

/**
 * Runs an export command and answers its save dialog (code-server's own path box) with the
 * default path, which must end with `fileName`; waits for the file on disk and returns its path.
 */
async function exportThroughCommand(label, fileName) {
  await page.keyboard.press('F1');
  const input = page.locator('.quick-input-widget input');
  await waitFor(input, 'visible', T_UI, 'the command palette did not open on F1');
  await input.fill(`>${label}`);
  const row = page.locator('.quick-input-list .monaco-list-row', { hasText: label });
  await waitFor(row, 'visible', T_UI, `the command palette did not list "${label}"`);
  await row.first().click();
  // The save dialog reuses the quick input: its box holds the default path.
  const deadline = Date.now() + T_UI;
  let value = '';
  while (Date.now() < deadline) {
    value = await input.first().inputValue({ timeout: T_UI }).catch(() => '');
    if (value.endsWith(fileName)) break;
    await page.waitForTimeout(100);
  }
  if (!value.endsWith(fileName)) throw new Error(`the save dialog for "${label}" did not offer ${fileName} (its box says ${JSON.stringify(value)})`);
  await page.keyboard.press('Enter');
  const file = path.join(WORKSPACE, path.dirname(TIED_FILE), fileName);
  const until = Date.now() + T_WEBVIEW;
  while (Date.now() < until && !(existsSync(file) && statSync(file).size > 0)) await page.waitForTimeout(200);
  if (!existsSync(file)) throw new Error(`${label} wrote no ${file}`);
  await waitFor(page.locator('.notifications-toasts', { hasText: `Exported ${fileName}` }), 'visible', T_UI, `no "Exported ${fileName}" notification`);
  return file;
}

async function closeAllEditors() {
  if ((await page.locator('.tabs-container .tab').count()) === 0) return;
  await runCommand('View: Close All Editors');
  await waitFor(page.locator('.tabs-container .tab'), 'detached', T_UI, 'editors stayed open after "Close All Editors"');
}

/** Ctrl+P, type the workspace-relative path, Enter; checks the right file is the one opened. */
async function quickOpen(rel) {
  const base = path.posix.basename(rel);
  const dir = path.posix.dirname(rel);
  await page.keyboard.press('Control+P');
  const input = page.locator('.quick-input-widget input');
  await waitFor(input, 'visible', T_UI, 'Quick Open did not open on Ctrl+P');
  await input.fill(rel);
  // The focused row must be that file in that folder (the other fixture has the same name).
  const focused = page.locator('.quick-input-list .monaco-list-row.focused');
  // The first search of a workspace indexes it: on a loaded machine that outlasts T_UI.
  await waitFor(
    focused.filter({ hasText: base }).filter({ hasText: dir }),
    'visible',
    T_WEBVIEW,
    `Quick Open did not offer ${rel} first`,
    async () => JSON.stringify(await page.locator('.quick-input-list .monaco-list-row').allInnerTexts()),
  );
  await page.keyboard.press('Enter');
  await waitFor(page.locator('.tabs-container .tab.active', { hasText: base }), 'visible', T_UI, `no active editor tab for ${rel} after Enter`);
}

/** Opens a fixture and waits for the webview's summary; returns the webview frame. */
async function openCheckpoint(rel) {
  await closeAllEditors();
  await quickOpen(rel);
  await waitFor(
    page.locator('iframe.webview.ready').filter({ visible: true }),
    'attached',
    T_WEBVIEW,
    `${rel} did not open in a webview (is Weightscope the default editor for *.safetensors?)`,
    async () => `active tab "${await page.locator('.tabs-container .tab.active').first().innerText()}"`,
  );
  const wv = webview();
  await waitFor(
    wv.locator('[data-testid="summary-unique"][data-value], [data-testid="error"]'),
    'attached',
    T_WEBVIEW,
    `the Weightscope webview for ${rel} showed no [data-testid="summary-unique"][data-value]`,
    async () => JSON.stringify((await wv.locator('body').innerText({ timeout: 2000 })).slice(0, 300)),
  );
  return wv;
}

async function attr(locator, name) {
  return locator.first().getAttribute(name, { timeout: T_UI });
}

async function tieLinks(wv) {
  return wv.locator('.tie-link').evaluateAll((els) => els.map((e) => e.getAttribute('data-shared')));
}

/** Lets the webview finish a frame (links are drawn with the tree), without a fixed sleep. */
async function settle(wv) {
  await wv.locator('body').evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
}

// ------------------------------------------------------------------ the test
const browser = await chromium.launch({
  executablePath: process.env.E2E_CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
let exitCode = 0;
try {
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
  page = await context.newPage();
  page.on('console', (m) => appendFileSync(CONSOLE_LOG, `[${m.type()}] ${m.text()}\n`));
  page.on('pageerror', (e) => appendFileSync(CONSOLE_LOG, `[pageerror] ${e.message}\n`));

  console.log('Weightscope e2e (code-server + Chromium)');

  await step('workbench opens the fixture workspace', { shotName: 'workbench' }, async () => {
    const url = `${URL_BASE}?folder=${encodeURIComponent(WORKSPACE)}`;
    await page.goto(url, { waitUntil: 'domcontentloaded', timeout: T_WORKBENCH });
    await waitFor(page.locator('.monaco-workbench'), 'visible', T_WORKBENCH, `the VS Code workbench did not load from ${url}`);
    await waitFor(
      page.locator('.explorer-folders-view .monaco-list-row', { hasText: TIED }),
      'visible',
      T_WORKBENCH,
      `the Explorer does not list ${TIED} (fixture missing from the workspace?)`,
    );
  });

  let wv;
  const OPEN_TIED = `tied GPT-2 opens in the Weightscope editor (Ctrl+P ${TIED_FILE})`;
  await step(OPEN_TIED, { needs: ['workbench opens the fixture workspace'], shotName: 'tied-open' }, async () => {
    wv = await openCheckpoint(TIED_FILE);
    const err = wv.locator('[data-testid="error"]');
    if (await err.count()) throw new Error(`${TIED_FILE} showed an error: ${await err.first().innerText()}`);
  });

  await step('tied GPT-2: summary shows the ground-truth unique and total counts', { needs: [OPEN_TIED], shotName: 'tied-summary' }, async () => {
    const want = expectedParams(TIED);
    const unique = await attr(wv.locator('[data-testid="summary-unique"]'), 'data-value');
    if (unique !== want.unique) throw new Error(`summary-unique data-value is ${unique}, ground truth says ${want.unique}`);
    const total = await attr(wv.locator('[data-testid="summary-total"]'), 'data-value');
    if (total !== want.total) throw new Error(`summary-total data-value is ${total}, ground truth says ${want.total}`);
  });

  await step('tied GPT-2: hovering lm_head lights transformer.wte and the tooltip names transformer.wte.weight', { needs: [OPEN_TIED], shotName: 'tied-hover-lm_head' }, async () => {
    const lmHead = wv.locator('[role="treeitem"][data-path="lm_head"]');
    await waitFor(lmHead, 'visible', T_UI, 'no visible row [role="treeitem"][data-path="lm_head"]', async () =>
      JSON.stringify(await wv.locator('[role="treeitem"]').evaluateAll((els) => els.slice(0, 20).map((e) => e.getAttribute('data-path')))),
    );
    const wte = wv.locator('[role="treeitem"][data-path="transformer.wte"]');
    await waitFor(wte, 'attached', T_UI, 'no row [role="treeitem"][data-path="transformer.wte"] (is transformer expanded?)', async () =>
      JSON.stringify(await wv.locator('[role="treeitem"]').evaluateAll((els) => els.slice(0, 20).map((e) => e.getAttribute('data-path')))),
    );
    await lmHead.first().hover({ timeout: T_UI });
    await waitFor(
      wv.locator('[role="treeitem"][data-path="transformer.wte"].shared-highlight'),
      'attached',
      T_UI,
      'hovering lm_head did not give transformer.wte the class shared-highlight',
      async () => `transformer.wte class="${await attr(wte, 'class')}"`,
    );
    const tooltip = wv.locator('#tooltip[role="tooltip"]');
    await waitFor(tooltip, 'visible', T_UI, 'no visible #tooltip[role="tooltip"] while hovering lm_head', async () =>
      `#tooltip count ${await wv.locator('#tooltip').count()}, role="${await wv.locator('#tooltip').first().getAttribute('role', { timeout: 1000 })}"`,
    );
    await waitFor(
      wv.locator('#tooltip[role="tooltip"]', { hasText: 'transformer.wte.weight' }),
      'visible',
      T_UI,
      'the lm_head tooltip does not name transformer.wte.weight',
      async () => JSON.stringify(await tooltip.first().innerText()),
    );
  });

  await step('tied GPT-2: a tie link joins lm_head.weight and transformer.wte.weight', { needs: [OPEN_TIED], shotName: 'tied-links' }, async () => {
    // data-shared is a space-separated list of tensor names: ~= matches one word of it.
    const link = wv.locator('.tie-link[data-shared~="lm_head.weight"][data-shared~="transformer.wte.weight"]');
    await waitFor(link, 'attached', T_UI, 'no .tie-link whose data-shared holds both lm_head.weight and transformer.wte.weight', async () =>
      JSON.stringify(await tieLinks(wv)),
    );
  });

  const OPEN_UNTIED = `untied GPT-2 opens in the Weightscope editor (Ctrl+P ${UNTIED_FILE})`;
  await step('tied GPT-2: keyboard: the tensor table of lm_head reaches its row and names the shared tensor', { needs: [OPEN_TIED], shotName: 'tied-table-keyboard' }, async () => {
    const lmHead = wv.locator('[role="treeitem"][data-path="lm_head"]').first();
    await lmHead.click({ timeout: T_UI });
    const table = wv.locator('.table-viewport');
    await waitFor(wv.locator('.trow[data-name="lm_head.weight"]'), 'attached', T_UI, 'selecting lm_head did not list lm_head.weight in the tensor table');
    await table.focus();
    await table.press('Home');
    await waitFor(wv.locator('.trow.active[data-name="lm_head.weight"]'), 'attached', T_UI, 'Home in the tensor table did not make lm_head.weight the active row', async () =>
      JSON.stringify(await wv.locator('.trow').evaluateAll((els) => els.map((e) => `${e.getAttribute('data-name')}:${e.className}`))),
    );
    await waitFor(
      wv.locator('#tooltip[role="tooltip"]', { hasText: 'transformer.wte.weight' }),
      'visible',
      T_UI,
      'the active tensor row shows no tooltip naming transformer.wte.weight',
    );
  });
  // The editor's exports are made by the worker with the core's renderers: the same bytes as the CLI.
  const cliExport = (format) =>
    execFileSync(process.execPath, [path.join(process.cwd(), 'bin', 'weightscope.js'), path.join(WORKSPACE, TIED_FILE), '--format', format], { maxBuffer: 64 << 20 });
  await step('tied GPT-2: "Export Hierarchy as PNG…" writes the PNG the CLI makes', { needs: [OPEN_TIED], shotName: 'tied-export-png' }, async () => {
    const file = await exportThroughCommand('Weightscope: Export Hierarchy as PNG…', 'gpt2-tied.png');
    const png = readFileSync(file);
    if (png.subarray(0, 8).toString('hex') !== '89504e470d0a1a0a') throw new Error(`${file} is not a PNG`);
    if (!png.equals(cliExport('png'))) throw new Error(`${file} (${png.length} bytes) differs from the CLI's --format png`);
  });
  await step('tied GPT-2: "Export Hierarchy as SVG…" writes the SVG the CLI makes', { needs: [OPEN_TIED], shotName: 'tied-export-svg' }, async () => {
    const file = await exportThroughCommand('Weightscope: Export Hierarchy as SVG…', 'gpt2-tied.svg');
    const svg = readFileSync(file);
    if (!/^<svg /.test(svg.toString('utf8'))) throw new Error(`${file} is not an SVG`);
    if (!svg.equals(cliExport('svg'))) throw new Error(`${file} differs from the CLI's --format svg`);
  });
  await step(OPEN_UNTIED, { needs: ['workbench opens the fixture workspace'], shotName: 'untied-open' }, async () => {
    wv = await openCheckpoint(UNTIED_FILE);
    const err = wv.locator('[data-testid="error"]');
    if (await err.count()) throw new Error(`${UNTIED_FILE} showed an error: ${await err.first().innerText()}`);
  });

  await step('untied GPT-2: summary shows the ground-truth unique and total counts', { needs: [OPEN_UNTIED], shotName: 'untied-summary' }, async () => {
    const want = expectedParams(UNTIED);
    const unique = await attr(wv.locator('[data-testid="summary-unique"]'), 'data-value');
    if (unique !== want.unique) throw new Error(`summary-unique data-value is ${unique}, ground truth says ${want.unique}`);
    const total = await attr(wv.locator('[data-testid="summary-total"]'), 'data-value');
    if (total !== want.total) throw new Error(`summary-total data-value is ${total}, ground truth says ${want.total}`);
  });

  await step('untied GPT-2: no tie link, and hovering lm_head lights nothing', { needs: [OPEN_UNTIED], shotName: 'untied-no-links' }, async () => {
    // The tree (and with it any link) must be drawn before "no link" means anything.
    await waitFor(wv.locator('[role="treeitem"][data-path="lm_head"]'), 'visible', T_UI, 'no visible lm_head row in the untied model');
    await settle(wv);
    const links = await tieLinks(wv);
    if (links.length) throw new Error(`the untied model shows ${links.length} .tie-link: ${JSON.stringify(links)}`);
    // lm_head shares storage with no one here.
    await wv.locator('[role="treeitem"][data-path="lm_head"]').first().hover({ timeout: T_UI });
    await settle(wv);
    const lit = await wv.locator('.shared-highlight').evaluateAll((els) => els.map((e) => e.getAttribute('data-path')));
    if (lit.length) throw new Error(`hovering lm_head in the untied model lit ${JSON.stringify(lit)}`);
  });

  await step('a broken checkpoint shows [data-testid="error"] with a message', { needs: ['workbench opens the fixture workspace'], shotName: 'broken' }, async () => {
    const wvb = await openCheckpoint(BROKEN_FILE);
    const err = wvb.locator('[data-testid="error"]');
    await waitFor(err, 'visible', T_UI, `${BROKEN_FILE} did not show a visible [data-testid="error"]`);
    const text = (await err.first().innerText()).trim();
    if (text.length < 5) throw new Error(`the error element is (nearly) empty: ${JSON.stringify(text)}`);
    console.log(`      error shown: ${JSON.stringify(text.slice(0, 160))}`);
  });
} catch (e) {
  // A failure outside any step (browser launch, page crash): count it.
  results.push({ name: 'harness', ok: false, error: e?.stack ?? String(e), ms: 0 });
  console.log(`  ✗ harness: ${e?.stack ?? e}`);
  exitCode = 1;
} finally {
  await browser.close().catch(() => {});
}

const passed = results.filter((r) => r.ok).length;
const failed = results.length - passed;
writeFileSync(RESULTS, JSON.stringify({ passed, failed, tests: results }, null, 2));
console.log(`screenshots: ${path.relative(process.cwd(), OUT)}/*.png; browser console: ${path.relative(process.cwd(), CONSOLE_LOG)}`);
process.exit(failed || exitCode ? 1 : 0);
