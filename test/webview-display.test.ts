/**
 * What the editor shows of what the core knows (issues 8, 9, 10, 12): the format label from the
 * registry, quantized checkpoints and adapters (summary line, stored figures per module, both
 * shapes of a packed tensor), a pickle's decoded calls and a plain pickle's report, ONNX names an
 * exporter deduplicated. On the committed fixtures, through the worker's payload and tree index
 * as the webview gets them (JSON round trip), and the webview's DOM-free data modules.
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { openCheckpoint } from '../src/core/index';
import { FORMAT_LABELS, formatLabel } from '../src/core/formats';
import { adapterLine as coreAdapterLine, quantizationLine as coreQuantizationLine } from '../src/core/quant/describe';
import { statusContent } from '../src/extension/statusText';
import * as sharedFormat from '../src/shared/format';
import type { SafetyReport, TensorPage, WireSummary, WireTensor } from '../src/shared/protocol';
import { buildSummary } from '../src/worker/payload';
import { TensorIndex } from '../src/worker/tensorIndex';
import { deduplicatedNote, linkLabel, relationLegend, storageCell } from '../webview/src/data/format';
import { adapterDetail, adapterLine, quantizationDetail, quantizationLine, shapeCell, storedLine } from '../webview/src/data/quant';
import { bannerHead, flaggedCalls, globalSummary, isPlainPickle, pickleLead, sortedGlobals } from '../webview/src/data/safety';
import { cli, fixture, REPO } from './helpers';
import { fromCheckpoint } from './webview-helpers';

/** The summary as the webview receives it (structured clone ~ JSON for these values). */
async function wireSummary(p: string): Promise<WireSummary> {
  return JSON.parse(JSON.stringify(buildSummary(await openCheckpoint(p)))) as WireSummary;
}

describe('editor: format labels come from the format registry', () => {
  it('the summary carries formatLabel() for every fixture format, `plain pickle` included', async () => {
    const files = [
      fixture('safetensors', 'gpt2-tied', 'model.safetensors'),
      fixture('safetensors', 'gpt2-sharded'),
      fixture('pytorch', 'gpt2-tied.pt'),
      fixture('pytorch', 'gpt2-legacy.pt'),
      fixture('onnx', 'tiny-gpt2.onnx'),
      fixture('layouts', 'plain-evil.pkl'),
    ];
    const seen = new Set<string>();
    for (const f of files) {
      const s = await wireSummary(f);
      assert.strictEqual(s.formatLabel, formatLabel(s.format), f);
      assert.strictEqual(s.formatLabel, FORMAT_LABELS[s.format], f);
      seen.add(s.format);
    }
    assert.deepStrictEqual([...seen].sort(), ['onnx', 'pickle', 'pytorch-legacy', 'pytorch-zip', 'safetensors', 'safetensors-sharded']);
    assert.strictEqual(FORMAT_LABELS.pickle, 'plain pickle');
  });

  it('the webview and the host keep no label table of their own', () => {
    assert.ok(!('FORMAT_LABELS' in sharedFormat), 'src/shared/format.ts still exports FORMAT_LABELS');
    assert.ok(!('formatLabel' in sharedFormat), 'src/shared/format.ts still exports formatLabel');
    for (const dir of ['webview/src', 'src/shared', 'src/extension']) {
      for (const f of fs.readdirSync(path.join(REPO, dir), { recursive: true }) as string[]) {
        if (!f.endsWith('.ts')) continue;
        const text = fs.readFileSync(path.join(REPO, dir, f), 'utf8');
        assert.doesNotMatch(text, /'PyTorch \(zip\)'|'safetensors \(sharded\)'/, `${dir}/${f} spells a format label`);
      }
    }
  });

  it("the status bar's hover names the registry's label (a plain pickle too)", async () => {
    const cp = await openCheckpoint(fixture('layouts', 'plain-evil.pkl'));
    const l = await fromCheckpoint(cp);
    const st = statusContent(l.head, 'layouts/plain-evil.pkl', 'compact');
    assert.match(st.tooltip, /\(plain pickle\)/);
    assert.ok(st.warning);
  });
});

describe('editor: quantized checkpoints and adapters', () => {
  it('GPTQ: the summary line in the CLI wording, in either number format', async () => {
    const cp = await openCheckpoint(fixture('quant', 'gptq-4bit-g32'));
    const s = JSON.parse(JSON.stringify(buildSummary(cp))) as WireSummary;
    assert.strictEqual(quantizationLine(s, 'compact'), '201K parameters · 4-bit GPTQ (g32) · 7.24 bits per weight stored');
    assert.strictEqual(quantizationLine(s, 'compact'), coreQuantizationLine(cp), 'the same line as the CLI and the exports');
    assert.strictEqual(quantizationLine(s, 'exact'), '201,152 parameters · 4-bit GPTQ (g32) · 7.24 bits per weight stored');
    const detail = quantizationDetail(s)!;
    assert.match(detail, /^201,152 parameters of the unquantized model; 159,744 in 21 quantized layers\./);
    assert.match(detail, /Stored: 68,720 elements, 178 KiB \(182,080 bytes\) of parameters and quantization tensors: 7\.24 bits per weight\./);
    assert.strictEqual(adapterLine(s, 'compact'), undefined);
  });

  it('every quantized fixture: the webview line equals the core line (compact), the scheme comes from the worker', async () => {
    const dir = fixture('quant');
    let n = 0;
    for (const name of fs.readdirSync(dir)) {
      if (name === 'ground-truth.json') continue;
      const cp = await openCheckpoint(path.join(dir, name));
      const s = JSON.parse(JSON.stringify(buildSummary(cp))) as WireSummary;
      assert.strictEqual(quantizationLine(s, 'compact'), coreQuantizationLine(cp), name);
      assert.strictEqual(adapterLine(s, 'compact'), coreAdapterLine(cp), name);
      if (cp.quantization || cp.adapter) n++;
    }
    assert.ok(n >= 20, `${n} quantized or adapter fixtures`);
  });

  it('an adapter reads as "LoRA r=4 on q_proj, v_proj of <base>: N trainable parameters"', async () => {
    const s = await wireSummary(fixture('quant', 'peft-lora'));
    assert.strictEqual(adapterLine(s, 'compact'), 'LoRA r=4 on q_proj, v_proj of weightscope/tiny-llama: 1.02K trainable parameters');
    assert.strictEqual(adapterLine(s, 'exact'), 'LoRA r=4 on q_proj, v_proj of weightscope/tiny-llama: 1,024 trainable parameters');
    assert.match(adapterDetail(s)!, /^LoRA adapter \(peft\) on 4 modules: 1,024 trainable parameters/);
    assert.strictEqual(quantizationLine(s, 'compact'), undefined);
  });

  it('the tree nodes carry the stored figures of every module holding quantized layers, and the card says them', async () => {
    const cp = await openCheckpoint(fixture('quant', 'gptq-4bit-g32'));
    const l = await fromCheckpoint(cp);
    const root = l.tree.node(0)!.m;
    assert.deepStrictEqual(root.stored, cp.modules.stored);
    assert.strictEqual(storedLine(root, 'compact'), 'Stored quantized: 68.7K elements · 178 KiB · 7.24 bits per weight (for 201K parameters unquantized)');
    assert.strictEqual(storedLine(root, 'exact'), 'Stored quantized: 68,720 elements · 178 KiB · 7.24 bits per weight (for 201,152 parameters unquantized)');
    let withStored = 0;
    let modules = 0;
    const walk = (m: typeof cp.modules) => {
      modules++;
      const id = l.tree.byPath.get(m.path);
      assert.ok(id !== undefined, m.path);
      assert.deepStrictEqual(l.tree.node(id)!.m.stored, m.stored, m.path);
      if (m.stored) withStored++;
      m.children.forEach(walk);
    };
    walk(cp.modules);
    assert.ok(withStored > 3 && withStored < modules, `${withStored} of ${modules} modules have stored figures`);
    // A module without quantized layers says nothing of storage.
    const norm = l.tree.node(l.tree.byPath.get('model.norm')!)!.m;
    assert.strictEqual(norm.stored, undefined);
    assert.strictEqual(storedLine(norm, 'compact'), undefined);
  });

  it("the tensor table: a packed weight shows both shapes; scales, zeros and g_idx have the role 'quantization'", async () => {
    const cp = await openCheckpoint(fixture('quant', 'gptq-4bit-g32'));
    const l = await fromCheckpoint(cp);
    const page = JSON.parse(JSON.stringify(new TensorIndex(l.index).query({ kind: 'module', path: 'model.layers.0.mlp.down_proj', subtree: false, offset: 0, limit: 100 }))) as TensorPage;
    const by = new Map(page.items.map((t) => [t.name.split('.').pop()!, t]));
    const q = by.get('qweight')!;
    assert.deepStrictEqual([q.shape, q.logicalShape, q.logicalNumel, q.role], [[24, 64], [64, 192], 12288, 'parameter']);
    assert.strictEqual(shapeCell(q).text, '[24, 64] → [64, 192]');
    assert.strictEqual(shapeCell(q).title, 'Stored [24, 64] (1,536 int32 elements), packed from a [64, 192] weight (12,288 parameters)');
    for (const aux of ['scales', 'qzeros', 'g_idx']) {
      const t = by.get(aux)!;
      assert.strictEqual(t.role, 'quantization', aux);
      assert.strictEqual(t.logicalShape, undefined, aux);
      assert.strictEqual(shapeCell(t).text, `[${t.shape.join(', ')}]`, aux);
    }
  });

  it("bitsandbytes: auxiliaries name the module they belong to", async () => {
    const cp = await openCheckpoint(fixture('quant', 'bnb-nf4'));
    const l = await fromCheckpoint(cp);
    const page = new TensorIndex(l.index).query({ kind: 'names', names: ['model.layers.0.mlp.down_proj.weight.absmax'] });
    const t = page.items[0] as WireTensor;
    assert.strictEqual(t.role, 'quantization');
    assert.strictEqual(t.module, 'model.layers.0.mlp.down_proj');
  });
});

describe('editor: pickle safety with the decoded calls', () => {
  it('a malicious torch.save file: the banner lists the call as the pickle holds it', async () => {
    const s = await wireSummary(fixture('pytorch', 'malicious.pt'));
    assert.strictEqual(isPlainPickle(s), false, 'a checkpoint with tensors keeps its tree');
    const f = flaggedCalls(s.safety);
    assert.strictEqual(f.length, 1);
    assert.match(f[0].name, /^(posix|nt|os)\.system$/);
    assert.deepStrictEqual(f[0].calls, [`${f[0].name}('touch /tmp/weightscope-pwned-marker')`]);
    assert.strictEqual(f[0].verb, 'call');
    assert.strictEqual(bannerHead(s.safety!, false), 'Loading this file with torch.load would run code:');
    assert.match(globalSummary(s.safety!.globals.find((g) => g.name === f[0].name)!), /^dangerous · called/);
  });

  it('every flagged global of the gadget fixture is listed, dangerous first, each with its calls', async () => {
    const cp = await openCheckpoint(fixture('pytorch-extra', 'evil-gadgets.pt'));
    const f = flaggedCalls(cp.safety);
    const unsafe = cp.safety!.globals.filter((g) => g.unsafe || g.verdict === 'dangerous');
    assert.strictEqual(f.length, unsafe.length);
    assert.ok(f.length >= 2, `${f.length} flagged`);
    const firstUnknown = f.findIndex((x) => x.verdict !== 'dangerous');
    if (firstUnknown >= 0) assert.ok(f.slice(firstUnknown).every((x) => x.verdict !== 'dangerous'), 'dangerous first');
    for (const x of f) {
      const g = cp.safety!.globals.find((y) => y.name === x.name)!;
      if (g.calls?.length) assert.deepStrictEqual(x.calls, g.calls, x.name);
      else assert.match(x.calls[0], new RegExp(`^${x.name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(`), x.name);
    }
  });

  it('calls beyond those the core kept are counted; a call reached through getattr says so; a trailing pickle too', () => {
    const report: SafetyReport = {
      verdict: 'dangerous',
      globals: [
        { name: 'torch._utils._rebuild_tensor_v2', verdict: 'allowed', count: 3, action: 'call' },
        { name: 'mymod.helper', verdict: 'unknown', count: 1, action: 'call', unsafe: true, calls: ["mymod.helper('a')"], callCount: 1 },
        { name: 'builtins.exec', verdict: 'dangerous', count: 2, action: 'call', unsafe: true, calls: ["builtins.exec('1')", "builtins.exec('2')"], callCount: 7, via: 'builtins.getattr', reason: 'runs Python code' },
        { name: 'requests.api.get', verdict: 'dangerous', count: 1, action: 'call', unsafe: true, calls: ["requests.api.get('https://x')"], callCount: 1, trailing: true },
        { name: 'subprocess.Popen', verdict: 'dangerous', count: 1, action: 'reference', unsafe: true },
      ],
    };
    const f = flaggedCalls(report);
    assert.deepStrictEqual(
      f.map((x) => [x.name, x.calls, x.more, x.via, x.trailing]),
      [
        ['builtins.exec', ["builtins.exec('1')", "builtins.exec('2')"], 5, 'builtins.getattr', false],
        ['requests.api.get', ["requests.api.get('https://x')"], 0, undefined, true],
        ['subprocess.Popen', ['subprocess.Popen (named, not called)'], 0, undefined, false],
        ['mymod.helper', ["mymod.helper('a')"], 0, undefined, false],
      ],
    );
    assert.strictEqual(globalSummary(report.globals[2]), 'dangerous · called 7 times · 2 references · reached through builtins.getattr');
    assert.strictEqual(globalSummary(report.globals[3]), 'dangerous · called · in a pickle torch.load ignores');
    assert.deepStrictEqual(sortedGlobals(report).map((g) => g.verdict), ['dangerous', 'dangerous', 'dangerous', 'unknown', 'allowed']);
    assert.deepStrictEqual(flaggedCalls({ verdict: 'safe', globals: [report.globals[0]] }), []);
    assert.deepStrictEqual(flaggedCalls(undefined), []);
  });

  it('a plain pickle opens as its safety report: what it is and the call it would make', async () => {
    const s = await wireSummary(fixture('layouts', 'plain-evil.pkl'));
    assert.strictEqual(s.format, 'pickle');
    assert.strictEqual(s.tensorCount, 0);
    assert.ok(isPlainPickle(s));
    assert.match(pickleLead(s), /^a pickle, not a checkpoint: it would call (posix|nt|os)\.system\('touch \/tmp\/weightscope-plain-pickle-marker'\)$/);
    assert.strictEqual(bannerHead(s.safety!, true), 'Loading this file with pickle.load or torch.load would run code:');
    assert.match(flaggedCalls(s.safety)[0].calls[0], /^(posix|nt|os)\.system\('touch \/tmp\/weightscope-plain-pickle-marker'\)$/);
    // Without a reader's lead warning, it still says what it is.
    assert.strictEqual(pickleLead({ warnings: [] }), 'a pickle, not a checkpoint: it holds no tensors');
    // Formats without pickles are never taken for one.
    assert.strictEqual(isPlainPickle({ format: 'safetensors', tensorCount: 0, safety: undefined }), false);
  });

  it('the CLI: a plain pickle says it is a pickle, not a checkpoint, and leads with what it would call', () => {
    const r = cli(fixture('layouts', 'plain-evil.pkl'));
    assert.strictEqual(r.status, 0, r.stderr);
    const lines = r.stdout.split('\n');
    assert.match(lines[0], /^SAFETY: DANGEROUS — torch.load without weights_only would call (posix|nt|os)\.system\(/);
    assert.match(lines[1], /^a pickle, not a checkpoint: it would call (posix|nt|os)\.system\('touch \/tmp\/weightscope-plain-pickle-marker'\)$/);
    assert.strictEqual(lines[2], 'plain pickle · 1 file · 130 bytes · protocol 2 · no tensors, nothing to count');
    assert.doesNotMatch(r.stdout, /parameters:|checkpoint · pickle/);
    assert.doesNotMatch(r.stdout, /\n\n\n/, 'no empty section');
  });
});

describe('editor: ONNX names an exporter deduplicated', () => {
  it('the summary counts them as separate tensors, stored once, never as a declared tie', async () => {
    const s = await wireSummary(fixture('onnx', 'extra', 'encoder-dedup.onnx'));
    assert.deepStrictEqual(s.deduplicated, { groups: 3, tensors: 13 });
    assert.strictEqual(s.parameters.unique, s.parameters.total, 'each deduplicated name counts');
    const note = deduplicatedNote(s.deduplicated)!;
    assert.strictEqual(note.text, '13 tensors stored as 3 copies: equal values the exporter kept once (each counted)');
    assert.doesNotMatch(note.text + note.title, /declared|tie\b/);
    assert.strictEqual(deduplicatedNote(undefined), undefined);
    assert.strictEqual((await wireSummary(fixture('safetensors', 'gpt2-tied'))).deduplicated, undefined);
  });

  it("the tensor table's storage cell says `stored once with …` for deduplicated members, not `view of`", async () => {
    const cp = await openCheckpoint(fixture('onnx', 'extra', 'encoder-dedup.onnx'));
    const l = await fromCheckpoint(cp);
    const gi = cp.shared.findIndex((g) => g.relation === 'deduplicated' && g.tensors.includes('layers.0.fc1.bias'));
    assert.ok(gi >= 0);
    const t = new TensorIndex(l.index).query({ kind: 'names', names: ['layers.0.fc1.bias'] }).items[0];
    const cell = storageCell(t, l.groups.group(gi));
    assert.strictEqual(cell.text, 'stored once with layers.1.fc1.bias (deduplicated)');
    assert.match(cell.title, /^Deduplicated by the exporter: the file stores one copy of the equal values of this tensor and layers\.1\.fc1\.bias; each is its own tensor of the model and counts/);
    assert.doesNotMatch(cell.text + cell.title, /declared|view of/);
  });

  it('no row counts a deduplicated name as shared parameters (no hatch, no "counted here and there")', async () => {
    const cp = await openCheckpoint(fixture('onnx', 'extra', 'encoder-dedup.onnx'));
    const l = await fromCheckpoint(cp);
    const hatched = [...l.tree.byPath.keys()].filter((p) => l.tree.node(l.tree.byPath.get(p)!)!.m.sharedParams);
    assert.deepStrictEqual(hatched, []);
    // The links still show where the exporter stored one copy.
    assert.ok(l.tree.node(l.tree.byPath.get('proj')!)!.m.shared?.some((x) => x.relation === 'deduplicated'));
    // A declared tie is still hatched (gpt2-dedup's head).
    const g = await fromCheckpoint(await openCheckpoint(fixture('onnx', 'extra', 'gpt2-dedup.onnx')));
    assert.strictEqual(g.tree.node(g.tree.byPath.get('lm_head')!)!.m.sharedParams, 1024);
  });

  it("gpt2-dedup: the tied head stays a declared tie, the equal LayerNorm weights are deduplicated", async () => {
    const cp = await openCheckpoint(fixture('onnx', 'extra', 'gpt2-dedup.onnx'));
    const l = await fromCheckpoint(cp, 6);
    const tie = cp.shared.findIndex((g) => g.relation === 'declared');
    const wte = new TensorIndex(l.index).query({ kind: 'names', names: ['transformer.wte.weight'] }).items[0];
    assert.strictEqual(storageCell(wte, l.groups.group(tie)).text, '= lm_head.weight (declared tie)');
    const relations = new Set(cp.shared.map((g) => g.relation));
    assert.deepStrictEqual(relationLegend(relations).map((e) => e.label), ['declared tie', 'equal values stored once by the exporter']);
  });

  it('the links legend and labels name each relation', () => {
    assert.deepStrictEqual(relationLegend(['deduplicated', 'alias', 'declared', 'alias']).map((e) => e.relation), ['alias', 'declared', 'deduplicated']);
    assert.deepStrictEqual(relationLegend([]), []);
    assert.strictEqual(linkLabel('deduplicated', ['a.bias', 'b.bias']), 'equal values stored once by the exporter: a.bias = b.bias');
    assert.strictEqual(linkLabel('declared', ['lm_head.weight', 'wte.weight']), 'declared tie: lm_head.weight = wte.weight');
    assert.strictEqual(linkLabel('alias', ['a', 'b', 'c', 'd', 'e', 'f']), 'same bytes: a = b = c = d = … (2 more)');
  });
});
