/** Pure helpers behind the editor's UX: what is watched, how exports are revealed, metadata docs, the status bar. */
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { openCheckpoint } from '../src/core/index';
import { METADATA_SCHEME, metadataDocPath, revealChoice } from '../src/extension/naming';
import { statusContent } from '../src/extension/statusText';
import { buildSummary } from '../src/worker/payload';
import { TreeIndex } from '../src/worker/treeIndex';
import { TensorIndex } from '../src/worker/tensorIndex';
import { isIndexFile, shardNamesFromIndex, siblingExtension, watchGlob } from '../src/extension/watchlist';
import { fixture } from './helpers';

const SHARDED_INDEX = fixture('safetensors', 'gpt2-sharded', 'model.safetensors.index.json');

describe('extension: files watched for a reload', () => {
  it('reads the shard names an index points at, once each', () => {
    const names = shardNamesFromIndex(fs.readFileSync(SHARDED_INDEX, 'utf8'));
    assert.deepStrictEqual(names, ['model-00001-of-00003.safetensors', 'model-00002-of-00003.safetensors', 'model-00003-of-00003.safetensors']);
    assert.deepStrictEqual(shardNamesFromIndex('{"weight_map": {"a": "x.bin", "b": "x.bin", "c": 3}}'), ['x.bin']);
    assert.deepStrictEqual(shardNamesFromIndex('not json'), []);
    assert.deepStrictEqual(shardNamesFromIndex('{"weight_map": ["x.bin"]}'), []);
    assert.ok(isIndexFile('model.safetensors.index.json') && isIndexFile('pytorch_model.bin.index.json'));
    assert.ok(!isIndexFile('config.json'));
  });

  it('names the extension sibling shards share', () => {
    assert.strictEqual(siblingExtension('model-00001-of-00003.safetensors'), '.safetensors');
    assert.strictEqual(siblingExtension('model.safetensors.index.json'), '.safetensors');
    assert.strictEqual(siblingExtension('pytorch_model.bin.index.json'), '.bin');
    assert.strictEqual(siblingExtension('tiny-00001-of-00002.GGUF'), '.gguf');
    assert.strictEqual(siblingExtension('config.json'), undefined);
    assert.strictEqual(siblingExtension('weights'), undefined);
  });

  it('after a successful open watches the files read and config.json', () => {
    const g = watchGlob({ openedFile: '/m/model.safetensors.index.json', knownFiles: ['model.safetensors.index.json', 'model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors', 'config.json', 'sub/x.bin'], failed: false });
    assert.strictEqual(g, '{model.safetensors.index.json,config.json,model-00001-of-00002.safetensors,model-00002-of-00002.safetensors}');
    assert.strictEqual(watchGlob({ openedFile: '/m/a.gguf', failed: false }), '{a.gguf,config.json}');
  });

  it('after a failed open still watches the last known files, the index shards and siblings', () => {
    // The broken shard is what the user fixes: it must stay watched.
    const g = watchGlob({ openedFile: '/m/model.safetensors.index.json', knownFiles: [], indexShards: ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors'], failed: true });
    assert.strictEqual(g, '{model.safetensors.index.json,config.json,model-00001-of-00002.safetensors,model-00002-of-00002.safetensors,*.safetensors}');
    const kept = watchGlob({ openedFile: '/m/x.gguf', knownFiles: ['x.gguf', 'x-00002.gguf'], failed: true });
    assert.ok(kept.includes('x-00002.gguf') && kept.includes('*.gguf'), kept);
    // Glob syntax in a file name matches that character instead.
    assert.strictEqual(watchGlob({ openedFile: '/m/a{1}.pt', failed: false }), '{a?1?.pt,config.json}');
  });
});

describe('extension: after an export', () => {
  const commands = ['revealInExplorer', 'revealFileInOS', 'vscode.open'];
  it('reveals in the Explorer inside the workspace, in the OS only where that exists', () => {
    assert.deepStrictEqual(revealChoice({ inWorkspace: true, remoteName: undefined, uiKind: 'web', commands, platform: 'linux' }), { command: 'revealInExplorer', label: 'Reveal in Explorer' });
    assert.strictEqual(revealChoice({ inWorkspace: false, remoteName: undefined, uiKind: 'desktop', commands, platform: 'darwin' })?.label, 'Reveal in Finder');
    assert.strictEqual(revealChoice({ inWorkspace: false, remoteName: undefined, uiKind: 'desktop', commands, platform: 'win32' })?.command, 'revealFileInOS');
    // code-server / Remote: no OS file manager to show the file in.
    assert.strictEqual(revealChoice({ inWorkspace: false, remoteName: undefined, uiKind: 'web', commands, platform: 'linux' }), null);
    assert.strictEqual(revealChoice({ inWorkspace: false, remoteName: 'ssh-remote', uiKind: 'desktop', commands, platform: 'linux' }), null);
    assert.strictEqual(revealChoice({ inWorkspace: false, remoteName: undefined, uiKind: 'desktop', commands: ['revealInExplorer'], platform: 'linux' }), null);
  });

  it('names the read-only metadata document after the checkpoint, beside it', () => {
    assert.strictEqual(METADATA_SCHEME, 'weightscope-metadata');
    assert.strictEqual(metadataDocPath('/m/gpt2/model.safetensors'), '/m/gpt2/model.safetensors.metadata.json');
    assert.strictEqual(metadataDocPath('C:\\m\\x.gguf'), '/C:/m/x.gguf.metadata.json');
    assert.strictEqual(path.posix.extname(metadataDocPath('/a/b.pt')), '.json', 'opens as JSON');
  });
});

describe('extension: status bar', () => {
  it('warns about a pickle that would run code, and names the folder', async () => {
    const cp = await openCheckpoint(fixture('pytorch', 'malicious.pt'));
    const c = statusContent(new TreeIndex(cp).head(buildSummary(cp), 2), 'pytorch/malicious.pt', 'compact');
    assert.ok(c.warning);
    assert.match(c.text, /^\$\(warning\) 4 params · unsafe pickle$/);
    assert.match(c.tooltip, /pytorch\/malicious\\.pt/);
    assert.match(c.tooltip, /`posix\.system`/);
  });

  it('shows the count plainly otherwise', async () => {
    const cp = await openCheckpoint(fixture('safetensors', 'gpt2-tied', 'model.safetensors'));
    const c = statusContent(new TreeIndex(cp).head(buildSummary(cp), 2), 'gpt2-tied/model.safetensors', 'exact');
    assert.ok(!c.warning);
    assert.strictEqual(c.text, `$(symbol-numeric) ${cp.parameters.unique.toLocaleString('en-US')} params`);
    assert.match(c.tooltip, /^\*\*gpt2\\-tied\/model\\.safetensors\*\*/);
  });
});

describe('extension: tensor counts and type-ahead', () => {
  it('counts the stored tensors apart from declared ties', async () => {
    const cp = await openCheckpoint(fixture('safetensors', 'gpt2-tied', 'model.safetensors'));
    const s = buildSummary(cp);
    assert.strictEqual(s.tensorCount, cp.tensors.length);
    assert.strictEqual(s.storedTensorCount, cp.tensors.filter((t) => t.present).length);
    assert.strictEqual(s.tensorCount - s.storedTensorCount, 1, 'lm_head.weight is a declared tie, not stored');
  });

  it('finds the next tensor whose name, relative to the module, starts with a prefix', async () => {
    const cp = await openCheckpoint(fixture('safetensors', 'gpt2-tied', 'model.safetensors'));
    const idx = new TensorIndex(new TreeIndex(cp));
    const all = idx.query({ kind: 'module', path: 'transformer.h', subtree: true, offset: 0, limit: 2000 }).items.map((t) => t.name);
    const hit = idx.query({ kind: 'find', path: 'transformer.h', subtree: true, prefix: '1.', from: 0 });
    assert.strictEqual(hit.items.length, 1);
    assert.strictEqual(hit.items[0].name, all[hit.offset]);
    assert.ok(hit.items[0].name.startsWith('transformer.h.1.'), hit.items[0].name);
    assert.strictEqual(hit.offset, all.findIndex((n) => n.startsWith('transformer.h.1.')));
    // Case does not matter; a single repeated letter moves on from the current row.
    const first = idx.query({ kind: 'find', path: 'transformer.h.0', subtree: true, prefix: 'A', from: 0 });
    const names0 = idx.query({ kind: 'module', path: 'transformer.h.0', subtree: true, offset: 0, limit: 100 }).items.map((t) => t.name.slice('transformer.h.0.'.length));
    assert.ok(names0[first.offset].startsWith('a'), names0[first.offset]);
    const next = idx.query({ kind: 'find', path: 'transformer.h.0', subtree: true, prefix: 'a', from: first.offset });
    assert.ok(next.offset !== first.offset && names0[next.offset].startsWith('a'));
    const none = idx.query({ kind: 'find', path: 'transformer.h.0', subtree: true, prefix: 'zz', from: 0 });
    assert.deepStrictEqual(none.items, []);
  });
});
