/**
 * Exports (issue 5): golden files for every format on the fixtures, plus structural checks that
 * don't depend on the goldens: the SVG is well-formed XML with tie links exactly where storage is
 * shared, the PNG decodes at twice the SVG's size, Mermaid has dotted tie edges, Markdown tables
 * are rectangular, and every export is byte-identical from run to run.
 *
 * Golden files live in test/golden/. They are only written when UPDATE_GOLDEN=1 is set
 * (`UPDATE_GOLDEN=1 npm test`); a mismatch fails and leaves the actual output in
 * test-output/golden/ for diffing.
 */
import * as assert from 'assert';
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import { analyze, Checkpoint, openCheckpoint, RawCheckpoint, TensorRecord } from '../src/core';
import { exportAs, exportDef, ExportFormat, exportFileName, EXPORTS } from '../src/core/export';
import { layoutTree } from '../src/core/export/layout';
import { code as mdCode, text as mdText } from '../src/core/export/markdown';
import { label as mermaidLabel } from '../src/core/export/mermaid';
import { esc } from '../src/core/export/xml';
import { REPO, fixture } from './helpers';
import { allElements, parseXml, textOf, XmlElement } from './export-xml.test';

const GOLDEN = path.join(REPO, 'test', 'golden');
const ACTUAL = path.join(REPO, 'test-output', 'golden');
const UPDATE = process.env.UPDATE_GOLDEN === '1';

function golden(name: string, actual: string): void {
  const file = path.join(GOLDEN, name);
  if (UPDATE) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, actual);
    return;
  }
  if (!fs.existsSync(file)) {
    assert.fail(`golden file test/golden/${name} is missing; create it with UPDATE_GOLDEN=1 npm test and review it`);
  }
  const expected = fs.readFileSync(file, 'utf8');
  if (expected === actual) return;
  fs.mkdirSync(ACTUAL, { recursive: true });
  fs.writeFileSync(path.join(ACTUAL, name), actual);
  const a = actual.split('\n');
  const e = expected.split('\n');
  let line = 0;
  while (line < a.length && line < e.length && a[line] === e[line]) line++;
  assert.fail(
    `${name} differs from test/golden/${name} at line ${line + 1}:\n  expected: ${JSON.stringify(e[line])}\n  actual:   ${JSON.stringify(a[line])}\n` +
      `actual output written to test-output/golden/${name}; if the change is intended, run UPDATE_GOLDEN=1 npm test and review the diff`,
  );
}

interface Fixture {
  name: string;
  path: string;
  /** data-shared of each expected tie link (space-joined tensor names), in any order. */
  ties: string[];
  /** Whole pickled module: real class names expected in the text export. */
  pickled?: boolean;
}

const FIXTURES: Fixture[] = [
  { name: 'gpt2-tied', path: fixture('safetensors', 'gpt2-tied'), ties: ['transformer.wte.weight lm_head.weight'] },
  { name: 'gpt2-untied', path: fixture('safetensors', 'gpt2-untied'), ties: [] },
  { name: 'gpt2-sharded', path: fixture('safetensors', 'gpt2-sharded'), ties: ['transformer.wte.weight lm_head.weight'] },
  // Whole pickled nn.Modules: real class names and reprs; an alias tie, and views of one storage.
  { name: 'gpt2-module', path: fixture('pytorch', 'gpt2-module.pt'), ties: ['transformer.wte.weight lm_head.weight'], pickled: true },
  {
    name: 'fused-qkv-module',
    path: fixture('pytorch', 'fused-qkv-module.pt'),
    // q, k and v are disjoint row blocks of one fused weight: one storage, no tie.
    ties: ['out_proj.weight out_proj_t.weight'],
    pickled: true,
  },
];

/** Tie names in a comparable form: member order within a group does not matter. */
function tieKey(shared: string): string {
  return shared.split(' ').sort().join(' ');
}

/** Open a fixture with its path made repository-relative, so the JSON golden is portable. */
async function open(f: Fixture): Promise<Checkpoint> {
  const cp = await openCheckpoint(f.path);
  cp.path = path.relative(REPO, cp.path).split(path.sep).join('/');
  return cp;
}

const TEXT_FORMATS: ExportFormat[] = ['svg', 'markdown', 'text', 'mermaid', 'json'];

function svgSize(svg: string): { width: number; height: number } {
  const root = parseXml(svg);
  return { width: Number(root.attrs.width), height: Number(root.attrs.height) };
}

function tieLinks(root: XmlElement): XmlElement[] {
  return allElements(root).filter((e) => (e.attrs.class ?? '').split(/\s+/).includes('tie-link'));
}

/** Width, height and decoded pixel rows of a PNG, checking signature, chunk CRCs and IDAT size. */
function decodePng(png: Uint8Array): { width: number; height: number } {
  const b = Buffer.from(png.buffer, png.byteOffset, png.byteLength);
  assert.deepStrictEqual([...b.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'PNG signature');
  let off = 8;
  let width = 0;
  let height = 0;
  let bitDepth = 0;
  let colorType = 0;
  const idat: Buffer[] = [];
  let sawEnd = false;
  while (off < b.length) {
    const len = b.readUInt32BE(off);
    const type = b.toString('latin1', off + 4, off + 8);
    const data = b.subarray(off + 8, off + 8 + len);
    const crc = b.readUInt32BE(off + 8 + len);
    assert.strictEqual(crc, zlib.crc32(b.subarray(off + 4, off + 8 + len)), `CRC of ${type}`);
    if (off === 8) assert.strictEqual(type, 'IHDR', 'first chunk is IHDR');
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      bitDepth = data[8];
      colorType = data[9];
    } else if (type === 'IDAT') idat.push(data);
    else if (type === 'IEND') {
      sawEnd = true;
      break;
    }
    off += 12 + len;
  }
  assert.ok(sawEnd, 'IEND chunk');
  const channels = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 }[colorType] ?? 0;
  assert.ok(channels > 0, `colour type ${colorType}`);
  const raw = zlib.inflateSync(Buffer.concat(idat));
  assert.strictEqual(raw.length, height * (1 + Math.ceil((width * channels * bitDepth) / 8)), 'decompressed image size');
  return { width, height };
}

/** Cells of a GFM table row, splitting on unescaped pipes. */
function tableCells(line: string): string[] {
  const inner = line.trim().replace(/^\|/, '').replace(/\|$/, '');
  const cells: string[] = [];
  let cur = '';
  for (let i = 0; i < inner.length; i++) {
    if (inner[i] === '\\' && i + 1 < inner.length) {
      cur += inner[i] + inner[i + 1];
      i++;
    } else if (inner[i] === '|') {
      cells.push(cur);
      cur = '';
    } else cur += inner[i];
  }
  cells.push(cur);
  return cells;
}

function checkMarkdownTables(md: string): number {
  const lines = md.split('\n');
  let tables = 0;
  for (let i = 0; i < lines.length; i++) {
    if (!lines[i].startsWith('|')) continue;
    const block: string[] = [];
    while (i < lines.length && lines[i].startsWith('|')) block.push(lines[i++]);
    tables++;
    assert.ok(block.length >= 2, `table at line ${i} has a header and a delimiter row`);
    assert.match(block[1], /^\|(\s*:?-+:?\s*\|)+$/, `delimiter row: ${block[1]}`);
    const n = tableCells(block[0]).length;
    for (const row of block) assert.strictEqual(tableCells(row).length, n, `column count of "${row}"`);
  }
  return tables;
}

function checkMermaid(src: string): { ties: string[]; nodes: Set<string> } {
  const lines = src.trimEnd().split('\n');
  assert.strictEqual(lines[0], 'flowchart TD');
  const nodes = new Set<string>();
  const ties: string[] = [];
  for (const line of lines.slice(1)) {
    if (/^\s*%%/.test(line) || /^\s*(classDef|class|linkStyle) /.test(line)) continue;
    let m = /^ {2}(m\d+)(\(\["[^"]*"\]\)|\[\["[^"]*"\]\]|\("[^"]*"\)|\["[^"]*"\])$/.exec(line);
    if (m) {
      assert.ok(!nodes.has(m[1]), `node ${m[1]} defined once`);
      nodes.add(m[1]);
      continue;
    }
    m = /^ {2}(m\d+) --> (m\d+)$/.exec(line);
    if (m) {
      assert.ok(nodes.has(m[1]) && nodes.has(m[2]), `edge between defined nodes: ${line}`);
      continue;
    }
    m = /^ {2}(m\d+) -\.-\|[a-z ]+\| (m\d+)$/.exec(line);
    if (m) {
      assert.ok(nodes.has(m[1]) && nodes.has(m[2]), `tie between defined nodes: ${line}`);
      ties.push(`${m[1]} ${m[2]}`);
      continue;
    }
    assert.fail(`unexpected Mermaid line: ${JSON.stringify(line)}`);
  }
  return { ties, nodes };
}

describe('export: golden files and structure', function () {
  this.timeout(60_000);

  it('has the fixtures it needs', () => {
    for (const f of FIXTURES) assert.ok(fs.existsSync(f.path), `${f.path} exists`);
  });

  for (const f of FIXTURES) {
    describe(f.name, () => {
      let cp: Checkpoint;
      const outputs = new Map<ExportFormat, string>();
      before(async () => {
        cp = await open(f);
        for (const fmt of TEXT_FORMATS) outputs.set(fmt, (await exportAs(cp, fmt)) as string);
      });

      for (const fmt of TEXT_FORMATS) {
        it(`${fmt} matches test/golden/${f.name}.${exportDef(fmt).extension}`, () => {
          golden(`${f.name}.${exportDef(fmt).extension}`, outputs.get(fmt)!);
        });
      }

      it('every format is byte-identical on a second run from a fresh open', async () => {
        const again = await open(f);
        for (const fmt of TEXT_FORMATS) assert.strictEqual(await exportAs(again, fmt), outputs.get(fmt), fmt);
      });

      it('svg is well-formed, self-contained, and has tie links exactly for shared storage', () => {
        const svg = outputs.get('svg')!;
        const root = parseXml(svg);
        assert.strictEqual(root.name, 'svg');
        assert.strictEqual(root.attrs.xmlns, 'http://www.w3.org/2000/svg');
        assert.match(root.attrs.width, /^\d+$/);
        assert.match(root.attrs.height, /^\d+$/);
        assert.strictEqual(root.attrs.viewBox, `0 0 ${root.attrs.width} ${root.attrs.height}`);
        const els = allElements(root);
        for (const e of els) {
          assert.ok(!['script', 'style', 'image', 'foreignObject', 'use', 'a'].includes(e.name), `no <${e.name}>`);
          for (const [k, v] of Object.entries(e.attrs)) {
            assert.ok(!/href$/i.test(k), `no ${k}`);
            assert.ok(!/^on/i.test(k), `no event handler ${k}`);
            assert.ok(!/url\(/i.test(v), `no url() in ${k}`);
          }
        }
        assert.ok(!/@font-face|@import/.test(svg));
        const links = tieLinks(root);
        assert.deepStrictEqual(links.map((l) => tieKey(l.attrs['data-shared'])).sort(), f.ties.map(tieKey).sort());
        for (const l of links) {
          assert.strictEqual(l.name, 'path');
          assert.ok(l.attrs.d && l.attrs.d.includes('C'), 'tie links are curves');
          if (l.attrs['data-relation'] === 'declared') assert.ok(l.attrs['stroke-dasharray'], 'declared ties are dashed');
        }
        // Title names the architecture and the totals.
        const title = textOf(els.find((e) => e.name === 'title')!);
        assert.ok(title.includes(cp.architecture ?? cp.modules.type));
        assert.ok(svg.includes(cp.parameters.unique.toLocaleString('en-US')));
      });

      it('svg draws folded runs once', () => {
        const root = parseXml(outputs.get('svg')!);
        const folds = allElements(root).filter((e) => e.attrs['data-kind'] === 'fold');
        const expected = layoutTree(cp).rows.filter((r) => r.kind === 'fold');
        assert.strictEqual(folds.length, expected.length);
        for (const [i, e] of folds.entries()) {
          const run = expected[i].fold!;
          assert.ok(textOf(e).includes(`(${run.from}-${run.to})`));
          assert.ok(textOf(e).includes(`${run.count} x ${run.type}`));
        }
      });

      it('png decodes at twice the svg size', async () => {
        const png = (await exportAs(cp, 'png')) as Uint8Array;
        assert.ok(png instanceof Uint8Array);
        const { width, height } = decodePng(png);
        const size = svgSize(outputs.get('svg')!);
        assert.strictEqual(width, size.width * 2);
        assert.strictEqual(height, size.height * 2);
        fs.mkdirSync(ACTUAL, { recursive: true });
        fs.writeFileSync(path.join(ACTUAL, `${f.name}.png`), png);
      });

      it('mermaid is a flowchart with dotted tie edges exactly for shared storage', () => {
        const { ties } = checkMermaid(outputs.get('mermaid')!);
        // A group of n modules is drawn as a chain of n - 1 dotted edges.
        assert.strictEqual(ties.length, f.ties.reduce((n, t) => n + t.split(' ').length - 1, 0));
        if (f.ties.length) assert.match(outputs.get('mermaid')!, /linkStyle \d+ stroke:#[0-9a-f]{6}/);
      });

      it('markdown tables have consistent column counts', () => {
        const md = outputs.get('markdown')!;
        assert.ok(checkMarkdownTables(md) >= 2);
        assert.strictEqual(/### Shared storage/.test(md), f.ties.length > 0);
        for (const t of f.ties) for (const n of t.split(' ')) assert.ok(md.includes(mdCode(n)), `tie member ${n} listed`);
      });

      it('text has the print(model) shape with folds and tie notes', () => {
        const txt = outputs.get('text')!;
        for (const r of layoutTree(cp).rows.filter((x) => x.kind === 'fold')) {
          assert.ok(txt.includes(`(${r.fold!.from}-${r.fold!.to}): ${r.fold!.count} x ${r.fold!.type}(`), `fold ${r.path}`);
        }
        assert.strictEqual(/shares weight with/.test(txt), f.ties.length > 0);
        if (f.ties.includes('transformer.wte.weight lm_head.weight')) {
          assert.match(txt, /\(lm_head\): Linear\(in_features=\d+, out_features=\d+, bias=False\) +[\d.]+K? +shares weight with transformer\.wte/);
        }
        if (f.pickled) {
          assert.ok(!txt.startsWith('# layer types inferred'), 'pickled modules have real classes');
          for (const r of layoutTree(cp).rows) if (r.kind === 'module' && r.level > 0) assert.strictEqual(r.node.inferred, false, r.path);
        }
        else assert.ok(txt.startsWith('# layer types inferred'), 'state dicts say their types are inferred');
      });

      it('json is the schema-1 report', () => {
        const doc = JSON.parse(outputs.get('json')!);
        assert.strictEqual(doc.schema, 1);
        assert.deepStrictEqual(doc.parameters, cp.parameters);
      });
    });
  }

  describe('depth', () => {
    it('collapses below the depth into a summary line and keeps ties on the visible ancestors', async () => {
      const cp = await open(FIXTURES[0]);
      const svg = (await exportAs(cp, 'svg', { depth: 1 })) as string;
      const root = parseXml(svg);
      const links = tieLinks(root);
      assert.strictEqual(links.length, 1);
      assert.strictEqual(links[0].attrs['data-shared'], 'transformer.wte.weight lm_head.weight');
      const collapsed = allElements(root).filter((e) => e.attrs['data-kind'] === 'collapsed');
      assert.strictEqual(collapsed.length, 1);
      assert.match(textOf(collapsed[0]), /submodules, \d+ tensors/);
      assert.ok(!allElements(root).some((e) => e.attrs['data-path'] === 'transformer.wte'));
      const tree = layoutTree(cp, { depth: 1 });
      assert.strictEqual(tree.rowOf('transformer.wte.weight').path, 'transformer');
      assert.strictEqual(tree.rowOf('lm_head.weight').path, 'lm_head');
      const md = (await exportAs(cp, 'markdown', { depth: 1 })) as string;
      assert.ok(!md.includes('### Level 2'));
      checkMarkdownTables(md);
      const mm = (await exportAs(cp, 'mermaid', { depth: 1 })) as string;
      assert.strictEqual(checkMermaid(mm).ties.length, 1);
    });

    it('depth 0 shows the root and a summary', async () => {
      const cp = await open(FIXTURES[0]);
      const tree = layoutTree(cp, { depth: 0 });
      assert.deepStrictEqual(tree.rows.map((r) => r.kind), ['module', 'collapsed']);
      const svg = (await exportAs(cp, 'svg', { depth: 0 })) as string;
      parseXml(svg);
    });
  });

  describe('hostile names', () => {
    // Names a checkpoint can hold: markup, quotes, pipes, brackets, control characters, a lone
    // surrogate, wide characters. Built in memory with two tensors sharing one storage.
    const nasty = [
      'enc.a&b<c>"q\'.weight',
      'enc.a&b<c>"q\'.bias',
      'dec.x|y`[z]#{w}*_.weight',
      'ctl\u0001\u0008\ud800.weight',
      '层.歸一化.weight',
      'long.' + 'n'.repeat(300) + '.weight',
    ];
    const rec = (name: string, storage: string, shape: number[]): TensorRecord => ({
      name,
      dtype: 'float32',
      shape,
      nbytes: 4 * shape.reduce((a, b) => a * b, 1),
      file: 'x.safetensors',
      dataOffset: 0,
      storage,
      storageOffset: 0,
      strides: null,
    });
    const raw: RawCheckpoint = {
      format: 'safetensors',
      path: '/tmp/<evil>&"name\'.safetensors',
      files: ['x.safetensors'],
      tensors: [
        rec(nasty[0], 's0', [8, 4]),
        rec(nasty[1], 's1', [8]),
        rec(nasty[2], 's0', [8, 4]),
        rec(nasty[3], 's3', [4]),
        rec(nasty[4], 's4', [4]),
        rec(nasty[5], 's5', [2, 2]),
      ],
      declaredTies: [],
      metadata: {},
      warnings: [],
      bytesRead: 0,
      totalBytes: 0,
    };
    const cp = analyze(raw);

    it('svg stays well-formed and carries the names in data-shared', async () => {
      const svg = (await exportAs(cp, 'svg')) as string;
      const root = parseXml(svg);
      const links = tieLinks(root);
      assert.strictEqual(links.length, 1);
      assert.strictEqual(links[0].attrs['data-shared'], `${nasty[0]} ${nasty[2]}`);
      assert.ok(!/[\u0001\u0008]/.test(svg));
      assert.ok(!/\ud800(?![\udc00-\udfff])/.test(svg));
      assert.ok(textOf(root).includes('a&b<c>"q\''));
      assert.ok(textOf(root).includes('歸一化'));
      const drawn = allElements(root).filter((e) => e.name === 'text').map(textOf).join('\n');
      assert.ok(!drawn.includes('n'.repeat(300)), 'very long names are shortened on the diagram');
    });

    it('png renders', async () => {
      const png = (await exportAs(cp, 'png')) as Uint8Array;
      const { width } = decodePng(png);
      assert.strictEqual(width, svgSize((await exportAs(cp, 'svg')) as string).width * 2);
    });

    it('markdown escapes pipes and keeps tables rectangular', async () => {
      const md = (await exportAs(cp, 'markdown')) as string;
      checkMarkdownTables(md);
      assert.ok(md.includes('x\\|y'));
      assert.ok(!/[\u0001\u0008]/.test(md));
    });

    it('mermaid quotes labels with entity codes', async () => {
      const mm = (await exportAs(cp, 'mermaid')) as string;
      const { ties } = checkMermaid(mm);
      assert.strictEqual(ties.length, 1);
      assert.ok(mm.includes('#quot;') && mm.includes('#lt;') && mm.includes('#91;') && mm.includes('#124;'));
    });

    it('text and json export', async () => {
      const txt = (await exportAs(cp, 'text')) as string;
      assert.ok(txt.includes('shares weight with dec.'));
      JSON.parse((await exportAs(cp, 'json')) as string);
    });
  });

  it('suggests file names from the checkpoint', async () => {
    const cp = await open(FIXTURES[0]);
    assert.strictEqual(exportFileName(cp, 'svg'), 'gpt2-tied.svg');
    assert.strictEqual(exportFileName({ ...cp, path: '/m/gpt2-sharded/model.safetensors.index.json' }, 'markdown'), 'gpt2-sharded.md');
    assert.strictEqual(exportFileName({ ...cp, path: 'C:\\w\\resnet18.pt' }, 'mermaid'), 'resnet18.mmd');
    assert.strictEqual(exportFileName({ ...cp, path: '/x/<a b>.gguf' }, 'png'), 'a_b_.png');
  });

  describe('escaping helpers', () => {
    it('xml', () => {
      assert.strictEqual(esc(`<a href="x">&'\u0000\uffff`), '&lt;a href=&quot;x&quot;&gt;&amp;&apos;');
      assert.strictEqual(esc('\ud83d\ude00 ok'), '\ud83d\ude00 ok');
    });
    it('markdown', () => {
      assert.strictEqual(mdCode('a|b'), '`a\\|b`');
      assert.strictEqual(mdCode('a`b'), '``a`b``');
      assert.strictEqual(mdCode('`x`'), '`` `x` ``');
      assert.strictEqual(mdText('*a*|_b_ <c>'), '\\*a\\*\\|\\_b\\_ &lt;c&gt;');
    });
    it('mermaid', () => {
      assert.strictEqual(mermaidLabel('say "hi" [x] <y> #1 a|b'), 'say #quot;hi#quot; #91;x#93; #lt;y#gt; #35;1 a#124;b');
    });
  });
});

describe('export registry', function () {
  this.timeout(60000);

  it('declares each export once, with a usable id, file name and menu label', () => {
    const ids = EXPORTS.map((e) => e.id);
    assert.strictEqual(new Set(ids).size, ids.length, 'ids are unique');
    for (const e of EXPORTS) {
      assert.match(e.id, /^[a-z][a-z0-9]*$/, `${e.id}: a --format value and a command suffix`);
      assert.match(e.extension, /^[a-z0-9]+$/);
      assert.ok(exportFileName({ path: '/m/resnet18.pt' }, e.id).endsWith(`.${e.extension}`), `${e.id}: the default name ends with its extension`);
      assert.match(e.menuLabel, /…$/);
      assert.ok(e.label && e.help);
    }
  });

  it('every registered export renders the same output twice, binary exactly when it says so', async () => {
    const a = await openCheckpoint(fixture('safetensors', 'gpt2-tied'));
    const b = await openCheckpoint(fixture('safetensors', 'gpt2-tied'));
    for (const e of EXPORTS) {
      const first = await exportAs(a, e.id);
      const second = await exportAs(b, e.id);
      assert.strictEqual(first instanceof Uint8Array, e.binary, `${e.id}: binary`);
      assert.strictEqual(typeof first === 'string', !e.binary, `${e.id}: text`);
      assert.ok(first.length > 100, `${e.id}: some output`);
      assert.deepStrictEqual(second, first, `${e.id}: deterministic`);
    }
  });

  it('PNG bytes do not depend on the machine: resvg (WebAssembly) with the bundled DejaVu fonts', async () => {
    // The same hash on every machine, since no system font or native library takes part. It
    // changes only with the pinned @resvg/resvg-wasm and dejavu-fonts-ttf versions or the SVG
    // (last: three significant digits in its numbers, issue 12).
    const png = (await exportAs(await openCheckpoint(fixture('safetensors', 'gpt2-tied')), 'png')) as Uint8Array;
    assert.strictEqual(createHash('sha256').update(png).digest('hex'), 'cb9b752c9f276f36f9f69ccb5df87e876b1c810b34cb654cd1c841492b71baa8');
  });
});
