import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { openCheckpoint } from '../src/core';
import { renderSummary } from '../src/core/export/text';
import { fixture, readJson, rejectsWith, tempDir } from './helpers';

/** scripts/fixtures/make_folders.py: torch's counts of each folder's model. */
interface Counts {
  parameters: { unique: number; total: number };
  buffers: number;
}
interface Truth {
  'st-dense': {
    root: Counts;
    modulesWithWeights: Record<string, { type: string; file: string; parameters: number }>;
    sentenceTransformerParameters: number;
  };
  unet: Counts & { architecture: string };
  global_step3: Counts & { file: string; optimizerFiles: number; otherRanks: number };
  'global_step3-zero3': Counts & { file: string; optimizerFiles: number; otherRanks: number };
}

const truth = readJson<Truth>(fixture('folders', 'ground-truth.json'));
const open = (name: string) => openCheckpoint(fixture('folders', name));

describe('folders whose layout says what the model is (ground truth from torch)', () => {
  describe('sentence-transformers, current layout (Transformer at the root, Dense modules in subfolders)', () => {
    it('counts the root model as torch does, and a warning names each module with weights left out, its file, and how to count it', async () => {
      const t = truth['st-dense'];
      const cp = await open('st-dense');
      assert.strictEqual(cp.parameters.unique, t.root.parameters.unique);
      // What the warning is about: SentenceTransformer counts more than the root holds.
      const left = Object.values(t.modulesWithWeights).reduce((s, m) => s + m.parameters, 0);
      assert.strictEqual(t.sentenceTransformerParameters, t.root.parameters.unique + left);
      const w = cp.warnings.filter((x) => x.code === 'st-modules-not-counted');
      assert.strictEqual(w.length, 1);
      for (const [dir, m] of Object.entries(t.modulesWithWeights)) assert.ok(w[0].message.includes(`${dir} (${m.type}, ${dir}/${m.file})`), w[0].message);
      assert.doesNotMatch(w[0].message, /1_Pooling/, 'a module without weights is not listed');
      assert.match(w[0].message, /open each folder/);
      assert.ok(cp.files.includes('modules.json'));
      // Each listed folder opens as the module torch counts.
      for (const [dir, m] of Object.entries(t.modulesWithWeights)) {
        assert.strictEqual((await open(path.join('st-dense', dir))).parameters.unique, m.parameters, dir);
      }
    });

    it('opening the root weights file is that file (no look beside it); a modules.json path out of the folder is not followed', async () => {
      const cp = await openCheckpoint(fixture('folders', 'st-dense', 'model.safetensors'));
      assert.ok(!cp.warnings.some((x) => x.code === 'st-modules-not-counted'));
      const dir = tempDir();
      try {
        fs.copyFileSync(fixture('folders', 'st-dense', 'model.safetensors'), path.join(dir, 'model.safetensors'));
        fs.mkdirSync(path.join(dir, 'inner'));
        fs.copyFileSync(fixture('folders', 'st-dense', 'model.safetensors'), path.join(dir, 'inner', 'model.safetensors'));
        fs.writeFileSync(path.join(dir, 'inner', 'modules.json'), JSON.stringify([{ idx: 0, name: '0', path: '' }, { idx: 1, name: '1', path: '..', type: 'x.Dense' }, { idx: 2, name: '2', path: '/etc', type: 'x.Dense' }]));
        const inner = await openCheckpoint(path.join(dir, 'inner'));
        assert.ok(!inner.warnings.some((x) => x.code === 'st-modules-not-counted'), JSON.stringify(inner.warnings));
        fs.writeFileSync(path.join(dir, 'inner', 'modules.json'), '{"not": "a list"');
        const bad = await openCheckpoint(path.join(dir, 'inner'));
        assert.ok(bad.warnings.some((x) => x.code === 'st-modules-invalid'));
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  it('a diffusers component folder: config.json\'s _class_name is the architecture, in the header and at the root', async () => {
    const t = truth.unet;
    const cp = await open('unet');
    assert.strictEqual(cp.parameters.unique, t.parameters.unique);
    assert.strictEqual(cp.architecture, t.architecture);
    assert.strictEqual(cp.modules.type, t.architecture);
    assert.match(renderSummary(cp), new RegExp(`^${t.architecture} · safetensors`, 'm'));
  });

  describe('DeepSpeed checkpoint folders (global_step*)', () => {
    for (const name of ['global_step3', 'global_step3-zero3'] as const) {
      it(`${name}: opens the model states file, with a note of what was left unread; counts equal torch's`, async () => {
        const t = truth[name];
        const cp = await open(name);
        assert.deepStrictEqual([cp.parameters.unique, cp.parameters.total, cp.buffers.total], [t.parameters.unique, t.parameters.total, t.buffers]);
        assert.deepStrictEqual(cp.files, [t.file]);
        const note = cp.warnings.find((x) => x.code === 'folder-pick');
        assert.ok(note, JSON.stringify(cp.warnings));
        assert.ok(note.message.includes(`read ${t.file}`), note.message);
        assert.ok(note.message.includes(`${t.optimizerFiles} optimizer state files`), note.message);
        assert.strictEqual(/other data-parallel rank/.test(note.message), t.otherRanks > 0, note.message);
      });
    }

    it('two model-parallel ranks each hold part of the model: no file is chosen, the user is asked', async () => {
      await rejectsWith(open('global_step3-mp2'), 'unknown-format', /several checkpoints \(mp_rank_00_model_states\.pt, mp_rank_01_model_states\.pt\)/);
    });

    it('a model states file beside files of another kind is not this layout: the user is asked', async () => {
      const dir = tempDir();
      try {
        for (const f of fs.readdirSync(fixture('folders', 'global_step3'))) fs.copyFileSync(fixture('folders', 'global_step3', f), path.join(dir, f));
        fs.copyFileSync(fixture('folders', 'global_step3', 'mp_rank_00_model_states.pt'), path.join(dir, 'layer_01-model_states.pt'));
        await rejectsWith(openCheckpoint(dir), 'unknown-format', /several checkpoints/);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  });
});
