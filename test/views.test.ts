/**
 * Views of one storage that do not overlap are on one storage but not tied, and objects saved
 * beside a pickled model print beside it: checked against torch 1.13's own answers
 * (scripts/fixtures/make_views.py writes test/fixtures/views and its ground truth, where
 * `overlaps` lists, for each tensor, the names whose storage elements it shares).
 */
import * as assert from 'assert';
import { analyze } from '../src/core/analyze';
import { openCheckpoint } from '../src/core';
import { Checkpoint } from '../src/core/model';
import { viewOverlaps, tiedSets } from '../src/core/overlaps';
import { renderText } from '../src/core/export/text';
import { renderMarkdown } from '../src/core/export/markdown';
import { renderMermaid } from '../src/core/export/mermaid';
import { renderSvg } from '../src/core/export/svg';
import { layoutTree } from '../src/core/export/layout';
import { computeLinks, modulePeers, tensorPeers } from '../webview/src/data/shared';
import { canonicalShared, cli, fixture, readJson } from './helpers';
import { fromCheckpoint, rawFrom } from './webview-helpers';

interface ViewTruth {
  parameters?: { unique: number; total: number };
  flatNumel?: number;
  buffers?: { unique: number; total: number };
  shared?: { tensors: string[]; relation: string }[];
  overlaps?: Record<string, string[]>;
  rootClass?: string;
  beside?: string[];
}

const F = readJson<{ fixtures: Record<string, ViewTruth> }>(fixture('views', 'ground-truth.json')).fixtures;
const vx = (name: string) => fixture('views', name);
const open = (name: string) => openCheckpoint(vx(name));

/** Each tensor's overlapping names as the core works them out (every name on the storage for a group without overlaps). */
function overlapsOf(cp: Checkpoint): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const g of cp.shared) {
    g.tensors.forEach((t, i) => {
      out[t] = (g.overlaps ? g.overlaps[i].map((j) => g.tensors[j]) : g.tensors.filter((o) => o !== t)).sort();
    });
  }
  return out;
}

const longest = (s: string) => Math.max(...s.split('\n').map((l) => l.length));

describe('views of one storage are tied only where their elements overlap (torch: element sets)', () => {
  for (const name of ['vec2params-module.pt', 'vec2params-sd.pt', 'fsdp-views-sd.pt', 'mixed-views-sd.pt']) {
    it(`${name}: the storage groups and each view's overlaps are torch's`, async () => {
      const t = F[name];
      const cp = await open(name);
      assert.deepStrictEqual(canonicalShared(cp.shared), canonicalShared(t.shared!));
      const got = overlapsOf(cp);
      for (const [n, o] of Object.entries(t.overlaps!)) assert.deepStrictEqual(got[n], o, n);
      // The unique count is unchanged by the ties: the storage's covered elements once.
      if (t.parameters) assert.strictEqual(cp.parameters.unique + cp.buffers.unique, t.parameters.unique);
      else assert.strictEqual(cp.shared[0].uniqueElements, t.flatNumel);
    });
  }

  it('vector_to_parameters: no module shares weight, no tie is drawn, the group line is bounded', async () => {
    for (const name of ['vec2params-module.pt', 'vec2params-sd.pt']) {
      const cp = await open(name);
      const text = renderText(cp);
      assert.ok(!/shares weight/.test(text), text);
      for (const m of cp.modules.children) for (const s of m.sharedWith) assert.deepStrictEqual(s.overlaps, [], s.tensor);
      assert.strictEqual(layoutTree(cp).ties.filter((l) => l.rows.length > 1).length, 0);
      assert.ok(!/shared view/.test(renderMermaid(cp)));
      assert.ok(!/class="tie-link"/.test(renderSvg(cp)));
      const md = renderMarkdown(cp);
      assert.ok(longest(md) < 400, `markdown line of ${longest(md)}`);
      assert.ok(md.includes('… and 72 more'), md);
      const r = cli(vx(name));
      assert.strictEqual(r.status, 0, r.stderr);
      assert.ok(longest(r.stdout) < 400, `CLI line of ${longest(r.stdout)}`);
      assert.match(r.stdout, /view {5}0\.weight, 0\.bias, .* … and 72 more .*80 disjoint views, none tied/);
      assert.ok(!/shares weight/.test(r.stdout));
    }
  });

  it('FSDP use_orig_params: each view overlaps the flat parameter only, never its siblings', async () => {
    const cp = await open('fsdp-views-sd.pt');
    const text = renderText(cp);
    assert.match(text, /\(0-5\): 6 x Linear.* shares weight with _fsdp_wrapped_module \(views of one storage\)/);
    assert.ok(!/shares weight with _fsdp_wrapped_module\.\d/.test(text), text);
    const flat = '_fsdp_wrapped_module._flat_param';
    const block = cp.modules.children[0].children[2];
    assert.deepStrictEqual(block.sharedWith.map((s) => [s.tensor, s.overlaps]), [
      ['_fsdp_wrapped_module.2.weight', [flat]],
      ['_fsdp_wrapped_module.2.bias', [flat]],
    ]);
    // The storage-mates are still listed (the JSON's `sharedWith` keeps its meaning).
    assert.ok(block.sharedWith[0].others.includes('_fsdp_wrapped_module.3.weight'));
    // One link: the flat parameter and its views.
    assert.deepStrictEqual(tiedSets(cp.shared[0]).map((s) => s.length), [13]);
  });

  it('the editor: hover partners and tie links come from the overlaps too', async () => {
    const l = await fromCheckpoint(await open('fsdp-views-sd.pt'), 3);
    const block = l.tree.byPath.get('_fsdp_wrapped_module.2')!;
    assert.deepStrictEqual(
      modulePeers(l.tree, block).map((p) => p.other),
      ['_fsdp_wrapped_module._flat_param', '_fsdp_wrapped_module._flat_param'],
    );
    const g = l.tree.node(block)!.m.shared![0].group;
    assert.deepStrictEqual(tensorPeers(l.groups, '_fsdp_wrapped_module.2.weight', g).map((p) => p.other), ['_fsdp_wrapped_module._flat_param']);
    assert.strictEqual(tensorPeers(l.groups, '_fsdp_wrapped_module._flat_param', g).length, 12);

    const v = await fromCheckpoint(await open('vec2params-sd.pt'), 3);
    assert.strictEqual(computeLinks(v.state, v.groups.known()).links.length, 0);
    assert.deepStrictEqual(modulePeers(v.tree, v.tree.byPath.get('3')!), []);
    assert.deepStrictEqual(tensorPeers(v.groups, '3.weight', 0), []);
  });

  it('strided views: two columns of a matrix do not overlap each other, each overlaps the matrix', async () => {
    const cp = await open('mixed-views-sd.pt');
    const text = renderText(cp);
    assert.match(text, /\(col0\): .*shares weight with blk\.mat, blk\.head \(views/);
    assert.ok(!/\(tail\).*shares/.test(text), text);
    assert.match(cli(vx('mixed-views-sd.pt')).stdout, /5 views, 4 overlapping another/);
  });

  it('100,000 disjoint views of one storage, and 100,000 views of a flat parameter: O(n log n), not n²', () => {
    // (n² pairs of 100,000 views would be 10¹⁰ comparisons: hours, not seconds.)
    const n = 100_000;
    const view = (i: number) => ({ dtype: 'float32', shape: [4], strides: [1], storageOffset: i * 16, nbytes: 16 });
    let t0 = Date.now();
    const disjoint = viewOverlaps(Array.from({ length: n }, (_, i) => view(i)))!;
    assert.ok(disjoint.every((o) => o.length === 0));
    assert.ok(Date.now() - t0 < 5000, `${Date.now() - t0} ms`);
    // FSDP-like: one flat tensor and every view inside it.
    t0 = Date.now();
    const ov = viewOverlaps([{ dtype: 'float32', shape: [4 * n], strides: [1], storageOffset: 0, nbytes: 16 * n }, ...Array.from({ length: n }, (_, i) => view(i))])!;
    assert.strictEqual(ov[0].length, n);
    assert.ok(ov.slice(1).every((o) => o.length === 1 && o[0] === 0));
    assert.ok(Date.now() - t0 < 5000, `${Date.now() - t0} ms`);
    // Through the analysis and the text: 20,000 disjoint views, one folded run, no tie.
    const cp = analyze(rawFrom(Array.from({ length: 20_000 }, (_, i) => ({ name: `m.${i}.weight`, shape: [4], storage: 'flat', offset: i * 16 }))));
    assert.strictEqual(cp.shared.length, 1);
    assert.strictEqual(cp.parameters.unique, 4 * 20_000);
    const text = renderText(cp);
    assert.ok(!/shares weight/.test(text), text.slice(0, 2000));
    assert.ok(longest(text) < 400);
  });

  it('2,000 column slices of one matrix (spans overlapping, elements not) are not tied, within budget', () => {
    const rows = 512;
    const cols = Array.from({ length: 2000 }, (_, c) => ({ dtype: 'float32', shape: [rows, 1], strides: [2000, 1], storageOffset: c * 4, nbytes: rows * 4 }));
    const ov = viewOverlaps(cols)!;
    assert.ok(ov.every((o) => o.length === 0));
  });
});

describe('objects saved beside a pickled model print beside it, not inside it', () => {
  for (const name of ['model-ema-module.pt', 'model-params-module.pt']) {
    it(`${name}: counts are torch's, the model's block holds its own modules only, the header is true`, async () => {
      const t = F[name];
      const cp = await open(name);
      assert.deepStrictEqual(cp.parameters.unique, t.parameters!.unique);
      assert.deepStrictEqual(cp.buffers, t.buffers);
      assert.strictEqual(cp.modules.type, t.rootClass);
      const text = renderText(cp);
      // Classes are recorded for every module of the model: no "no classes in the file".
      assert.ok(!/no classes in the file/.test(text), text);
      const lines = text.split('\n');
      const close = lines.indexOf(')');
      assert.ok(close > 0, text);
      for (const b of t.beside!) {
        const at = lines.findIndex((l) => l.startsWith(`(${b}): `));
        assert.ok(at > close, `${b} after the model's closing parenthesis:\n${text}`);
        assert.ok(!lines.slice(0, close).some((l) => l.includes(`(${b})`)), text);
      }
      assert.strictEqual(lines[close + 1], '# beside the model (not part of it):');
    });
  }
});

describe('a folded run whose blocks are tied to each other says so', () => {
  it('two Linears on one weight fold into one line that names the tie within the run', async () => {
    // pytorch-extra/legacy-p4.pt: Sequential(Linear, Linear) whose weights are one tensor.
    const cp = await openCheckpoint(fixture('pytorch-extra/legacy-p4.pt'));
    const line = renderText(cp)
      .split('\n')
      .find((l) => l.includes('(0-1): 2 x Linear'));
    assert.ok(line, renderText(cp));
    assert.match(line!, /40 each {2}the blocks share weight$/);
    assert.ok(!/shares weight with/.test(line!), line);
  });

  it('tensors beside the model are counted in words that agree with the number', async () => {
    const text = renderText(await openCheckpoint(fixture('torchscript/traced-bn.pt')));
    assert.match(text, /\(CONSTANTS\): Tensors\(…1 tensor\) +3 elements/);
  });
});

describe('strided views measured once per storage, not once per module above them', () => {
  const { tensorRecord } = require('../src/core/tensor-record') as typeof import('../src/core/tensor-record');
  /** `storages` storages each viewed by `views` interleaved columns of 100,000 rows (100,000 runs each), 32 modules deep. */
  const raw = (storages: number, views: number) => {
    const deep = Array.from({ length: 32 }, (_, i) => `m${i}`).join('.');
    const tensors = [];
    for (let s = 0; s < storages; s++) {
      for (let v = 0; v < views; v++) {
        tensors.push(tensorRecord(`${deep}.s${s}.w${v}`, 'float32', 'F', [100000, 1], 400000, 'f', 0, `st${s}`, 4 * v, [views + 1, 1], 4 * (views + 1) * 100000, undefined));
      }
    }
    return { format: 'pytorch-zip' as const, path: 'x', files: ['x'], tensors, declaredTies: [], metadata: {}, warnings: [], bytesRead: 0, totalBytes: 0 };
  };

  it('2 storages of 5 strided views, 32 modules deep: each subtree reuses the measure below it, exact (80 s before)', function () {
    this.timeout(60000);
    const t0 = Date.now();
    const cp = analyze(raw(2, 5));
    const elapsed = Date.now() - t0;
    assert.ok(elapsed < 20000, `${elapsed} ms`);
    // The views' elements interleave and never meet: each counts.
    assert.strictEqual(cp.parameters.unique, 1_000_000);
    assert.strictEqual(cp.modules.children[0].parameters.unique, 1_000_000);
    assert.deepStrictEqual(cp.shared.map((g) => [g.relation, g.uniqueElements, g.overlaps?.every((o) => o.length === 0)]), [['view', 500_000, true], ['view', 500_000, true]]);
    assert.deepStrictEqual(cp.warnings, []);
  });

  it('20 storages of 10 strided views, 64 modules deep: runs enumerated within one budget for the analysis, then spans, with a warning (half an hour before)', function () {
    this.timeout(60000);
    const r = raw(20, 10);
    for (const t of r.tensors) t.name = `${Array.from({ length: 32 }, (_, i) => `n${i}`).join('.')}.${t.name}`;
    const t0 = Date.now();
    const cp = analyze(r);
    const elapsed = Date.now() - t0;
    assert.ok(elapsed < 20000, `${elapsed} ms`);
    assert.strictEqual(cp.shared.length, 20);
    // The first storages are measured exactly; the rest by spans, which count the gaps between runs.
    assert.strictEqual(cp.shared[0].uniqueElements, 1_000_000);
    assert.ok(cp.parameters.unique >= 20_000_000 && cp.parameters.unique <= 22_000_000, String(cp.parameters.unique));
    const w = cp.warnings.find((x) => x.code === 'shared-storage-approximate');
    assert.ok(w, JSON.stringify(cp.warnings));
    assert.match(w.message, /more than 4,000,000 contiguous runs/);
  });
});

describe('one storage viewed by 150,000 tensors of mixed dtypes', () => {
  it('is counted by its largest view, without a RangeError (Math.max over 150,000 arguments overflowed the stack before)', function () {
    this.timeout(60000);
    const { tensorRecord } = require('../src/core/tensor-record') as typeof import('../src/core/tensor-record');
    const n = 150000;
    const tensors = [];
    for (let i = 0; i < n; i++) {
      const half = i % 2 === 1;
      tensors.push(tensorRecord(`m.w${i}`, half ? 'float16' : 'float32', half ? 'H' : 'F', [i === 0 ? 8 : 1], half ? 2 : i === 0 ? 32 : 4, 'f', 0, 'st', 8 * i, [1], 8 * n, undefined));
    }
    const cp = analyze({ format: 'pytorch-zip', path: 'x', files: ['x'], tensors, declaredTies: [], metadata: {}, warnings: [], bytesRead: 0, totalBytes: 0 });
    assert.strictEqual(cp.shared.length, 1);
    assert.strictEqual(cp.shared[0].uniqueElements, 8);
    assert.strictEqual(cp.parameters.unique, 8);
  });
});
