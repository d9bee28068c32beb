/**
 * The model map export (src/core/export/map.ts, ids `mapsvg` and `mappng`): golden SVGs of the
 * tied and untied GPT-2, a self-contained document with tie arcs exactly where storage is
 * shared, widths from the shared layout, the run drawn once, the PNG at twice the size with a
 * pinned hash, the CLI's `--format mapsvg`.
 *
 * Golden files are written only with UPDATE_GOLDEN=1 (`UPDATE_GOLDEN=1 npm test`); a mismatch
 * leaves the actual output in test-output/golden/.
 */
import * as assert from 'assert';
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { Checkpoint, openCheckpoint } from '../src/core';
import { exportAs, exportDef, exportFileName, EXPORT_FORMATS } from '../src/core/export';
import { checkpointMapSource, MAP_KIND_COLORS, renderMapSvg } from '../src/core/export/map';
import { layoutMap, MapValues } from '../src/shared/icicle';
import { allElements, parseXml, textOf, XmlElement } from './export-xml.test';
import { cli, fixture, REPO } from './helpers';

const GOLDEN = path.join(REPO, 'test', 'golden');
const ACTUAL = path.join(REPO, 'test-output', 'golden');

function golden(name: string, actual: string): void {
  const file = path.join(GOLDEN, name);
  if (process.env.UPDATE_GOLDEN === '1') {
    fs.writeFileSync(file, actual);
    return;
  }
  assert.ok(fs.existsSync(file), `golden file test/golden/${name} is missing; create it with UPDATE_GOLDEN=1 npm test and review it`);
  const expected = fs.readFileSync(file, 'utf8');
  if (expected === actual) return;
  fs.mkdirSync(ACTUAL, { recursive: true });
  fs.writeFileSync(path.join(ACTUAL, name), actual);
  const a = actual.split('\n');
  const e = expected.split('\n');
  let line = 0;
  while (line < a.length && a[line] === e[line]) line++;
  assert.fail(`${name} differs from the golden file at line ${line + 1}:\n  expected: ${JSON.stringify(e[line])}\n  actual:   ${JSON.stringify(a[line])}\nactual output in test-output/golden/${name}`);
}

async function open(name: string): Promise<Checkpoint> {
  const cp = await openCheckpoint(fixture('safetensors', name));
  cp.path = path.relative(REPO, cp.path).split(path.sep).join('/');
  return cp;
}

const ties = (root: XmlElement) => allElements(root).filter((e) => (e.attrs.class ?? '').split(/\s+/).includes('tie-link'));
const cellOf = (root: XmlElement, p: string) => allElements(root).find((e) => e.name === 'g' && e.attrs['data-path'] === p && e.attrs['data-kind']);
const boxWidth = (g: XmlElement) => Number(g.children.find((c) => c.name === 'rect')!.attrs.width);

/** PNG width and height from IHDR. */
function pngSize(png: Uint8Array): { width: number; height: number } {
  const b = Buffer.from(png);
  assert.strictEqual(b.subarray(1, 4).toString('latin1'), 'PNG');
  return { width: b.readUInt32BE(16), height: b.readUInt32BE(20) };
}

describe('export: model map', function () {
  this.timeout(60000);

  it('is in the registry as mapsvg and mappng, named apart from the tree diagram', async () => {
    assert.ok(EXPORT_FORMATS.includes('mapsvg') && EXPORT_FORMATS.includes('mappng'));
    assert.strictEqual(exportDef('mapsvg').group, 'image');
    assert.strictEqual(exportDef('mappng').binary, true);
    const cp = await open('gpt2-tied');
    assert.strictEqual(exportFileName(cp, 'mapsvg'), 'gpt2-tied.map.svg');
    assert.strictEqual(exportFileName(cp, 'mappng'), 'gpt2-tied.map.png');
    assert.strictEqual(exportFileName(cp, 'svg'), 'gpt2-tied.svg');
  });

  for (const name of ['gpt2-tied', 'gpt2-untied']) {
    describe(name, () => {
      let cp: Checkpoint;
      let svg: string;
      let root: XmlElement;
      before(async () => {
        cp = await open(name);
        svg = (await exportAs(cp, 'mapsvg')) as string;
        root = parseXml(svg);
      });

      it(`matches test/golden/${name}.map.svg`, () => golden(`${name}.map.svg`, svg));

      it('is byte-identical from a fresh open', async () => {
        assert.strictEqual(await exportAs(await open(name), 'mapsvg'), svg);
      });

      it('is self-contained, names the model, and has tie arcs exactly for shared storage', () => {
        assert.strictEqual(root.name, 'svg');
        assert.strictEqual(root.attrs.viewBox, `0 0 ${root.attrs.width} ${root.attrs.height}`);
        for (const e of allElements(root)) {
          assert.ok(!['script', 'style', 'image', 'foreignObject', 'use', 'a'].includes(e.name), `no <${e.name}>`);
          for (const [k, v] of Object.entries(e.attrs)) {
            assert.ok(!/href$/i.test(k) && !/^on/i.test(k) && !/url\(/i.test(v), `${e.name} ${k}`);
          }
        }
        assert.ok(textOf(allElements(root).find((e) => e.name === 'title')!).includes(cp.architecture!));
        assert.ok(svg.includes(cp.parameters.unique.toLocaleString('en-US')));
        const links = ties(root);
        if (name === 'gpt2-tied') {
          assert.strictEqual(links.length, 1);
          assert.strictEqual(links[0].attrs['data-shared'], 'transformer.wte.weight lm_head.weight');
          assert.strictEqual(links[0].attrs['data-relation'], 'declared');
          assert.ok(links[0].attrs['stroke-dasharray'], 'a declared tie is dashed');
          assert.match(links[0].attrs.d, /^M[\d.]+ [\d.]+C/);
        } else assert.strictEqual(links.length, 0);
      });

      it('draws the run once, with its count, and widths from the shared layout', () => {
        const folds = allElements(root).filter((e) => e.attrs['data-kind'] === 'fold');
        assert.strictEqual(folds.length, 1);
        assert.ok(textOf(folds[0]).includes('(0-2): 3 x Block'));
        assert.ok(!allElements(root).some((e) => /^transformer\.h\.[12](\.|$)/.test(e.attrs['data-path'] ?? '')), 'blocks 1 and 2 are not drawn');
        // The layout the webview uses, at the export's width: each box one pixel narrower (the gap).
        const src = checkpointMapSource(cp);
        const layout = layoutMap(src, new MapValues(src), { kind: 'module', id: 0 }, { width: 1200, bandHeight: 44, maxLevels: 10, minCellPx: 4, tiedPx: 6 });
        for (const p of ['transformer', 'transformer.wte', 'transformer.h', 'lm_head']) {
          const c = layout.cells.find((x) => x.kind === 'module' && src.node(x.id).path === p)!;
          assert.ok(Math.abs(boxWidth(cellOf(root, p)!) - (c.x1 - c.x0 - 1)) < 0.01, p);
        }
        const head = cellOf(root, 'lm_head')!;
        const rect = head.children.find((c) => c.name === 'rect')!;
        if (name === 'gpt2-tied') {
          // Stored in wte: a dashed sliver; the whole width goes to the transformer.
          assert.strictEqual(Number(rect.attrs.width), 5);
          assert.ok(rect.attrs['stroke-dasharray']);
        } else {
          assert.strictEqual(rect.attrs['stroke-dasharray'], undefined);
          assert.ok(Math.abs(Number(rect.attrs.width) + 1 - (1200 * 4096) / cp.parameters.unique) < 0.01);
        }
        // Colours by kind.
        assert.strictEqual(cellOf(root, 'transformer.wte')!.attrs['data-layer'], 'embedding');
        assert.strictEqual(cellOf(root, 'transformer.h.0.attn')!.attrs['data-layer'], 'attention');
        assert.ok(svg.includes(MAP_KIND_COLORS.embedding) && svg.includes(MAP_KIND_COLORS.attention));
      });

      it('png is the svg at twice its size', async () => {
        const png = (await exportAs(cp, 'mappng')) as Uint8Array;
        assert.deepStrictEqual(pngSize(png), { width: 2 * Number(root.attrs.width), height: 2 * Number(root.attrs.height) });
        if (name === 'gpt2-tied') {
          // Same bytes on every machine (resvg in WebAssembly, the bundled DejaVu fonts).
          assert.strictEqual(createHash('sha256').update(png).digest('hex'), 'cc514fcf1d9eabe9cc5b4b7158603ed5ecc301cccb79e03d6773f01124b56dee');
        }
      });
    });
  }

  it('--depth cuts the bands; arcs join the cells standing for both ends', async () => {
    const cp = await open('gpt2-tied');
    const root = parseXml(renderMapSvg(cp, { depth: 1 }));
    assert.ok(!allElements(root).some((e) => e.attrs['data-path'] === 'transformer.wte'));
    const links = ties(root);
    assert.strictEqual(links.length, 1);
    assert.ok(cellOf(root, 'transformer') && cellOf(root, 'lm_head'));
  });

  it('the CLI writes it with --format mapsvg', async () => {
    const r = cli(fixture('safetensors', 'gpt2-tied'), '--format', 'mapsvg');
    assert.strictEqual(r.status, 0, r.stderr);
    const cp = await openCheckpoint(fixture('safetensors', 'gpt2-tied'));
    assert.strictEqual(r.stdout, await exportAs(cp, 'mapsvg'));
  });
});
