/**
 * Multi-token prediction layers stored after the decoder's (DeepSeek-V3's model.layers.61,
 * GLM-4.5's model.layers.92): the checkpoint's count holds them, `parameters.mtp` says which
 * layers they are and the count without them, which is what transformers' model has. Checked
 * against torch 1.13 (scripts/fixtures/make_mtp.py: each model built in plain torch with
 * DeepSeek-V3's names; `model` is the decoder transformers builds, `checkpoint` what the file holds).
 */
import * as assert from 'assert';
import { openCheckpoint, toReport } from '../src/core';
import { renderMarkdown } from '../src/core/export/markdown';
import { buildSummary } from '../src/worker/payload';
import { mtpText } from '../src/shared/mtpText';
import { cli, fixture, readJson } from './helpers';

interface Truth {
  model: number;
  checkpoint: number;
  mtpModules: string[];
  decoderLayers: number;
  source: string;
}

const truths = readJson<{ fixtures: Record<string, Truth> }>(fixture('mtp', 'ground-truth.json')).fixtures;

describe('multi-token prediction layers (torch 1.13)', () => {
  for (const [name, truth] of Object.entries(truths)) {
    it(`${name}: the checkpoint's count is torch's; ${truth.mtpModules.length ? `${truth.mtpModules.join(', ')} noted, and the count without them is the model's` : 'nothing noted'}`, async () => {
      const cp = await openCheckpoint(fixture('mtp', name));
      assert.strictEqual(cp.parameters.unique, truth.checkpoint);
      const report = toReport(cp);
      if (!truth.mtpModules.length) {
        assert.strictEqual(cp.parameters.mtp, undefined);
        assert.ok(!('mtp' in report.parameters));
        return;
      }
      assert.deepStrictEqual(report.parameters.mtp, {
        modules: truth.mtpModules,
        unique: truth.checkpoint - truth.model,
        withoutMtp: truth.model,
        source: truth.source,
      });
      // The root module's counts stay plain counts.
      assert.ok(!('mtp' in cp.modules.parameters));
      // Each layer's node says what it is; the decoder's layers do not.
      const layers = cp.modules.children.find((c) => c.name === 'model')!.children.find((c) => c.name === 'layers')!;
      for (const c of [...layers.children, ...cp.modules.children]) {
        const mtp = truth.mtpModules.includes(c.path);
        assert.strictEqual(/multi-token prediction layer/.test(c.evidence ?? ''), mtp, c.path);
      }
      // What the editor receives carries it.
      assert.deepStrictEqual(JSON.parse(JSON.stringify(buildSummary(cp))).parameters.mtp, report.parameters.mtp);
    });
  }

  it('the CLI says it under the parameter count, with exact numbers and what says so', () => {
    const out = cli(fixture('mtp', 'deepseek-sharded')).stdout;
    const t = truths['deepseek-sharded'];
    const line = out.split('\n').find((l) => l.startsWith('mtp:'));
    assert.strictEqual(
      line,
      `mtp:        ${(t.checkpoint - t.model).toLocaleString('en-US')} in model.layers.2, the multi-token prediction layer, which transformers skips when loading: ${t.model.toLocaleString('en-US')} without it (config.json num_hidden_layers 2, num_nextn_predict_layers 1)`,
    );
  });

  it("the Markdown export's summary table has the row", async () => {
    const md = renderMarkdown(await openCheckpoint(fixture('mtp', 'glm-two-mtp')));
    assert.match(md, /\| Multi-token prediction \| 9,632 in 2 layers \(model\.layers\.3, model\.layers\.4\), the multi-token prediction layers, which transformers skips when loading: 8,688 without them \(config\.json num\\_hidden\\_layers 3, num\\_nextn\\_predict\\_layers 2\) \|/);
  });

  it('several layers read as such; without the count when they share storage with the model', () => {
    assert.strictEqual(mtpText({ modules: ['m.layers.3', 'm.layers.4'], unique: 2e9, withoutMtp: 9e9 }), '2.00B in 2 layers (m.layers.3, m.layers.4), the multi-token prediction layers, which transformers skips when loading: 9.00B without them');
    assert.strictEqual(mtpText({ modules: ['model.layers.61'], unique: 13.5e9 }), '13.5B in model.layers.61, the multi-token prediction layer, which transformers skips when loading');
  });
});
