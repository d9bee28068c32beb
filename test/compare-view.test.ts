/**
 * The editor's comparison view (issue 14, item 3): the aligned rows the parser worker pages to
 * the webview (src/worker/compareIndex.ts), the compare RPC's checks, and the comparison's SVG
 * (`weightscope diff --format svg`, the view's Export) against golden files.
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { openCheckpoint } from '../src/core';
import { compareStructure, renderDiffSvg, CheckpointDiff, walkRows } from '../src/core/diff';
import { compareHostApiValidators, compareWorkerValidators, CompareView } from '../src/shared/protocol';
import { CompareIndex, FIRST_VIEW_ROWS } from '../src/worker/compareIndex';
import { CompareService } from '../src/worker/compareService';
import { cli, fixture, readJson, REPO, safetensorsBytes, tempDir } from './helpers';

const ST = readJson(fixture('safetensors', 'ground-truth.json'));
const GOLDEN = path.join(REPO, 'test', 'golden');
const UPDATE = process.env.UPDATE_GOLDEN === '1';

async function diffOf(a: string, b: string): Promise<CheckpointDiff> {
  return compareStructure(await openCheckpoint(a), await openCheckpoint(b));
}

function golden(name: string, actual: string): void {
  const file = path.join(GOLDEN, name);
  if (UPDATE) {
    fs.writeFileSync(file, actual);
    return;
  }
  assert.ok(fs.existsSync(file), `golden file test/golden/${name} is missing; create it with UPDATE_GOLDEN=1 npm test and review it`);
  const expected = fs.readFileSync(file, 'utf8');
  if (expected !== actual) {
    const out = path.join(REPO, 'test-output', 'golden');
    fs.mkdirSync(out, { recursive: true });
    fs.writeFileSync(path.join(out, name), actual);
    assert.fail(`${name} differs from test/golden/${name} (actual output in test-output/golden/${name})`);
  }
}

/** Every row of the view, by pages of `size`. */
function allRows(ix: CompareIndex, view: CompareView, size: number) {
  const first = ix.page({ view, offset: 0, limit: size });
  const rows = [...first.rows];
  for (let off = size; off < first.total; off += size) rows.push(...ix.page({ view, offset: off, limit: size }).rows);
  return { total: first.total, rows };
}

describe('comparison view: aligned rows (tied vs untied GPT-2)', () => {
  let ix: CompareIndex;
  before(async () => {
    ix = new CompareIndex(await diffOf(fixture('safetensors', 'gpt2-tied'), fixture('safetensors', 'gpt2-untied')));
  });

  it('the head answers the seed question: counts from the ground truth, one tie lost', () => {
    const h = ix.head();
    assert.strictEqual(h.a.parameters.unique, ST['gpt2-tied'].parameters.unique);
    assert.strictEqual(h.b.parameters.unique, ST['gpt2-untied'].parameters.unique);
    assert.strictEqual(h.equal, false);
    assert.strictEqual(h.summary.tiesLost, 1);
    assert.strictEqual(h.summary.tiesGained, 0);
    assert.match(h.verdict, /^different: .*1 tie lost/);
    assert.deepStrictEqual(h.ties, ['lost: transformer.wte.weight = lm_head.weight (declared in a); in b: transformer.wte.weight alone; lm_head.weight alone']);
    assert.ok(h.config.includes('+ tie_word_embeddings: false'), JSON.stringify(h.config));
    let n = 0;
    walkRows(ix.diff.root, () => n++);
    assert.strictEqual(h.rowCount, n);
  });

  it('the first view opens the changed rows: root and transformer, not the unchanged blocks', () => {
    const view = { expanded: ix.head().expanded, changesOnly: false };
    const { rows } = allRows(ix, view, 100);
    assert.deepStrictEqual(rows.map((r) => r.path), ['', 'transformer', 'transformer.wte', 'transformer.wpe', 'transformer.h', 'transformer.ln_f', 'lm_head']);
    const byPath = new Map(rows.map((r) => [r.path, r]));
    assert.strictEqual(byPath.get('transformer.h')!.status, 'equal');
    assert.strictEqual(byPath.get('transformer.h')!.expanded, false);
    assert.ok(byPath.get('transformer.h')!.childCount > 0);
    const head = byPath.get('lm_head')!;
    assert.strictEqual(head.status, 'changed');
    // Owned counts: a's lm_head held nothing (its weight was wte's), b's holds the whole head.
    assert.strictEqual(head.a!.owned, 0);
    assert.strictEqual(head.b!.owned - head.a!.owned, ST['gpt2-untied'].parameters.unique - ST['gpt2-tied'].parameters.unique);
    const root = byPath.get('')!;
    assert.strictEqual(root.b!.owned - root.a!.owned, ST['gpt2-untied'].parameters.unique - ST['gpt2-tied'].parameters.unique);
    assert.strictEqual(root.a!.unique, ST['gpt2-tied'].parameters.unique);
    assert.strictEqual(root.a!.total, ST['gpt2-tied'].parameters.total);
    assert.match(head.note ?? '', /tie lost: transformer\.wte\.weight/);
  });

  it('draws a\'s tie as a lost link between wte and lm_head, and none for b; a collapsed module stands for what it hides', () => {
    const view = { expanded: ix.head().expanded, changesOnly: false };
    const page = ix.page({ view, offset: 0, limit: 100 });
    const pos = (p: string) => page.rows.findIndex((r) => r.path === p);
    assert.strictEqual(page.linkCount, 1);
    assert.deepStrictEqual(page.links, [{ side: 'a', status: 'lost', relation: 'declared', tensors: ['transformer.wte.weight', 'lm_head.weight'], rows: [pos('transformer.wte'), pos('lm_head')] }]);
    // transformer collapsed: its row stands for wte.
    const collapsed = ix.page({ view: { expanded: [0], changesOnly: false }, offset: 0, limit: 100 });
    assert.deepStrictEqual(collapsed.rows.map((r) => r.path), ['', 'transformer', 'lm_head']);
    assert.deepStrictEqual(collapsed.links[0].rows, [1, 2]);
  });

  it('"changes only" keeps the rows that differ and their ancestors', () => {
    const { rows } = allRows(ix, { expanded: ix.head().expanded, changesOnly: true }, 100);
    assert.deepStrictEqual(rows.map((r) => r.path), ['', 'transformer', 'transformer.wte', 'lm_head']);
    assert.ok(rows.every((r) => r.status !== 'equal'));
  });

  it('pages cut the same rows as one page, and send only the links that reach them', () => {
    const all = ix.rows.map((_, i) => i);
    const view = { expanded: all, changesOnly: false };
    const one = ix.page({ view, offset: 0, limit: 5000 });
    assert.strictEqual(one.total, ix.rows.length, 'everything expanded: every row shows');
    const paged = allRows(ix, view, 7);
    assert.deepStrictEqual(paged.rows.map((r) => r.id), one.rows.map((r) => r.id));
    assert.deepStrictEqual(one.rows.map((r) => r.id), all, 'rows in pre-order');
    const link = one.links[0];
    const [lo, hi] = [link.rows[0], link.rows[link.rows.length - 1]];
    assert.strictEqual(ix.page({ view, offset: lo + 1, limit: hi - lo - 1 }).links.length, 1, 'a page between the ends gets the link');
    assert.strictEqual(ix.page({ view, offset: hi + 1, limit: 10 }).links.length, 0, 'a page past both ends does not');
    assert.strictEqual(ix.page({ view, offset: 10_000, limit: 10 }).rows.length, 0);
  });

  it('a row\'s tensors on both sides, with what changed and the storage partners', () => {
    const lm = ix.rows.findIndex((r) => r.path === 'lm_head');
    const page = ix.tensors(lm, 0, 50);
    assert.strictEqual(page.total, 1);
    const t = page.items[0];
    assert.strictEqual(t.key, 'lm_head.weight');
    assert.strictEqual(t.status, 'changed');
    assert.deepStrictEqual(t.a!.shape, t.b!.shape);
    assert.strictEqual(t.a!.present, false, 'the tied file does not store lm_head.weight');
    assert.strictEqual(t.b!.present, true);
    assert.match(t.change ?? '', /tie lost: transformer\.wte\.weight/);
    assert.deepStrictEqual(t.sharesA, ['transformer.wte.weight']);
    assert.strictEqual(t.sharesB, undefined);
  });
});

describe('comparison view: a large model stays paged', function () {
  this.timeout(60_000);
  let dir: string;
  let ix: CompareIndex;
  const BLOCKS = 2000;
  before(async () => {
    // 2,000 blocks of 6 tensors (12,000 tensors, 14,000 modules), compared with itself but for one block's dtype.
    dir = tempDir();
    const header = (dtypeOf: (i: number) => string) => {
      const h: Record<string, unknown> = {};
      let off = 0;
      for (let i = 0; i < BLOCKS; i++) {
        for (const [n, shape] of [['attn.q.weight', [4, 4]], ['attn.q.bias', [4]], ['attn.o.weight', [4, 4]], ['mlp.up.weight', [8, 4]], ['mlp.down.weight', [4, 8]], ['norm.weight', [4]]] as const) {
          const dt = dtypeOf(i);
          const nbytes = shape.reduce((a, b) => a * b, 1) * (dt === 'F32' ? 4 : 2);
          h[`layers.${i}.${n}`] = { dtype: dt, shape, data_offsets: [off, off + nbytes] };
          off += nbytes;
        }
      }
      return { h, off };
    };
    const a = header(() => 'F32');
    const b = header((i) => (i === 1234 ? 'F16' : 'F32'));
    fs.writeFileSync(path.join(dir, 'a.safetensors'), safetensorsBytes(a.h, a.off));
    fs.writeFileSync(path.join(dir, 'b.safetensors'), safetensorsBytes(b.h, b.off));
    ix = new CompareIndex(await diffOf(path.join(dir, 'a.safetensors'), path.join(dir, 'b.safetensors')));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('the first view stays within a few hundred rows and a page within its limit', () => {
    const h = ix.head();
    assert.ok(h.rowCount > 12_000);
    const first = ix.page({ view: { expanded: h.expanded, changesOnly: false }, offset: 0, limit: 200 });
    assert.ok(first.total <= FIRST_VIEW_ROWS, `first view: ${first.total} rows`);
    assert.ok(first.rows.length <= 200);
    // layers has 2,000 children: too many to open at first; changes only goes straight to the block.
    const layers = ix.rows.findIndex((r) => r.path === 'layers');
    assert.ok(!h.expanded.includes(layers));
    const changes = allRows(ix, { expanded: ix.rows.map((_, i) => i), changesOnly: true }, 50);
    assert.deepStrictEqual(
      changes.rows.map((r) => r.path),
      ['', 'layers', 'layers.1234', 'layers.1234.attn', 'layers.1234.attn.q', 'layers.1234.attn.o', 'layers.1234.mlp', 'layers.1234.mlp.up', 'layers.1234.mlp.down', 'layers.1234.norm'],
    );
  });

  it('expanding a 2,000-child module pages it: every row once, in order', () => {
    const layers = ix.rows.findIndex((r) => r.path === 'layers');
    const view = { expanded: [0, layers], changesOnly: false };
    const { total, rows } = allRows(ix, view, 500);
    assert.strictEqual(total, 2 + BLOCKS);
    assert.strictEqual(new Set(rows.map((r) => r.id)).size, total);
    assert.strictEqual(rows[2 + 1234].path, 'layers.1234');
    assert.strictEqual(rows[2 + 1234].status, 'changed');
    assert.strictEqual(rows[2 + 1233].status, 'equal');
  });

  it('compared with itself: equal, and "changes only" shows the root alone', async () => {
    const same = new CompareIndex(await diffOf(path.join(dir, 'a.safetensors'), path.join(dir, 'a.safetensors')));
    const h = same.head();
    assert.strictEqual(h.equal, true);
    assert.deepStrictEqual(h.expanded, [0]);
    assert.strictEqual(same.page({ view: { expanded: same.rows.map((_, i) => i), changesOnly: true }, offset: 0, limit: 100 }).total, 1);
  });
});

describe('comparison view: the compare RPC', () => {
  it('checks what the webview and the host send', () => {
    const v = compareHostApiValidators();
    const view = { expanded: [0, 3], changesOnly: false };
    assert.ok(v.rows!({ generation: 1, query: { view, offset: 0, limit: 200 } }));
    assert.ok(!v.rows!({ generation: 1, query: { view, offset: 0, limit: 100_000 } }), 'pages are bounded');
    assert.ok(!v.rows!({ generation: 1, query: { view: { expanded: [-1], changesOnly: false }, offset: 0, limit: 10 } }));
    assert.ok(!v.rows!({ generation: 1, query: { view: { expanded: [0] }, offset: 0, limit: 10 } }));
    assert.ok(v.export!({ format: 'svg' }) && v.export!({ format: 'markdown' }));
    assert.ok(!v.export!({ format: 'png' }));
    assert.ok(v.open!({ side: 'a' }) && !v.open!({ side: 'c' }));
    assert.ok(!v.tensors!({ generation: 1, id: 0, offset: 0, limit: 1e6 }));
    assert.ok(compareWorkerValidators.compare!({ a: 'x', b: 'y' }));
    assert.ok(!compareWorkerValidators.compare!({ a: '', b: 'y' }));
    assert.ok(!compareWorkerValidators.compareExport!({ format: 'svg' }), 'labels are required');
  });

  it('the worker\'s export is the CLI\'s output, byte for byte (svg, markdown)', async function () {
    this.timeout(30_000);
    const a = fixture('safetensors', 'gpt2-tied');
    const b = fixture('safetensors', 'gpt2-untied');
    const s = await CompareService.open(a, b);
    for (const format of ['svg', 'markdown'] as const) {
      const ours = await s.export({ format, labels: { a, b } });
      const r = cli('diff', a, b, '--format', format);
      assert.strictEqual(r.status, 3, r.stderr);
      assert.strictEqual(ours, r.stdout, format);
    }
  });
});

describe('weightscope diff --format svg', () => {
  it('tied vs untied GPT-2: the golden diagram, the lost tie drawn on a\'s side', async () => {
    const d = await diffOf(fixture('safetensors', 'gpt2-tied'), fixture('safetensors', 'gpt2-untied'));
    const svg = renderDiffSvg(d, { labels: { a: 'gpt2-tied', b: 'gpt2-untied' } });
    assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg" /);
    assert.match(svg, /<path class="tie-link lost" data-side="a" data-shared="transformer\.wte\.weight lm_head\.weight" data-relation="declared"/);
    assert.ok(!/data-side="b"/.test(svg), 'b has no tie');
    assert.match(svg, /<g data-path="lm_head" data-kind="module" data-status="changed">/);
    assert.match(svg, /\+4,096\)/, 'the header gives the exact parameter delta');
    assert.strictEqual(renderDiffSvg(d, { labels: { a: 'gpt2-tied', b: 'gpt2-untied' } }), svg, 'deterministic');
    golden('diff-gpt2-tied-untied.svg', svg);
  });

  it('reversed, the tie is gained on b\'s side; equal models say so', async () => {
    const back = renderDiffSvg(await diffOf(fixture('safetensors', 'gpt2-untied'), fixture('safetensors', 'gpt2-tied')), { labels: { a: 'gpt2-untied', b: 'gpt2-tied' } });
    assert.match(back, /<path class="tie-link gained" data-side="b"/);
    golden('diff-gpt2-untied-tied.svg', back);
    const same = renderDiffSvg(await diffOf(fixture('diff', 'hf-export', 'pytorch_model.bin'), fixture('diff', 'hf-export', 'model.safetensors')));
    assert.match(same, /data-equal="true"/);
    assert.ok(!/data-status="(changed|added|removed)"/.test(same));
  });

  it('the CLI writes it (exit 3 for different) and --depth limits the rows', () => {
    const a = fixture('safetensors', 'gpt2-tied');
    const b = fixture('safetensors', 'gpt2-untied');
    const full = cli('diff', a, b, '--format', 'svg');
    assert.strictEqual(full.status, 3, full.stderr);
    const shallow = cli('diff', a, b, '--format', 'svg', '--depth', '1');
    const rows = (s: string) => (s.match(/<g data-path=/g) ?? []).length;
    assert.ok(rows(shallow.stdout) < rows(full.stdout), `${rows(shallow.stdout)} rows at depth 1, ${rows(full.stdout)} in all`);
    assert.ok(!/data-path="transformer\.wte"/.test(shallow.stdout));
  });
});
