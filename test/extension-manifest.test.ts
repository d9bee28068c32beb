import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { EXPORT_FORMATS } from '../src/core/export';
import { EDITOR_PATTERNS } from '../src/core/formats';
import { exportCommand } from '../src/extension/naming';
import { REPO } from './helpers';

const pkg = JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8'));
const src = (f: string) => fs.readFileSync(path.join(REPO, 'src', 'extension', f), 'utf8');

describe('extension manifest', () => {
  it('registers the custom editor for checkpoints (default) and *.bin (option)', () => {
    const editors = pkg.contributes.customEditors as { viewType: string; priority: string; selector: { filenamePattern: string }[] }[];
    const main = editors.find((e) => e.viewType === 'weightscope.checkpoint')!;
    assert.strictEqual(main.priority, 'default');
    const patterns = main.selector.map((s) => s.filenamePattern);
    for (const p of ['*.safetensors', '*.gguf', '*.pt', '*.pth', '*.ckpt', '*.onnx', '*.safetensors.index.json', '*.bin.index.json']) assert.ok(patterns.includes(p), p);
    assert.ok(!patterns.includes('*.bin'));
    const option = editors.find((e) => e.priority === 'option')!;
    assert.ok(option.selector.some((s) => s.filenamePattern === '*.bin'));
    for (const e of editors) assert.ok(src('extension.ts').includes('VIEW_TYPE') && src('provider.ts').includes(`'${e.viewType}'`), e.viewType);
  });

  it('offers the custom editor for exactly the format registry file patterns', () => {
    const editors = pkg.contributes.customEditors as { viewType: string; priority: string; selector: { filenamePattern: string }[] }[];
    const declared = (priority: string) => editors.filter((e) => e.priority === priority).flatMap((e) => e.selector.map((s) => s.filenamePattern));
    for (const priority of ['default', 'option'] as const) {
      const inManifest = declared(priority);
      const inRegistry = EDITOR_PATTERNS[priority];
      for (const p of inRegistry) assert.ok(inManifest.includes(p), `a format module registers "${p}" (${priority}) but package.json customEditors does not list it`);
      for (const p of inManifest) assert.ok(inRegistry.includes(p), `package.json customEditors lists "${p}" (${priority}) but no format module registers it`);
      assert.strictEqual(new Set(inManifest).size, inManifest.length, `${priority} patterns are listed once`);
    }
  });

  it('shows Open with Weightscope in the Explorer and tab menus for every file it opens by default', () => {
    const menus = pkg.contributes.menus as Record<string, { command?: string; when?: string }[]>;
    const items = [...menus['explorer/context'], ...menus['editor/title/context']].filter((m) => m.command === 'weightscope.openWith');
    assert.strictEqual(items.length, 2);
    for (const item of items) {
      const m = /resourceFilename =~ \/(.+)\/(\w*)/.exec(item.when ?? '');
      assert.ok(m, item.when);
      const re = new RegExp(m[1], m[2]);
      for (const p of EDITOR_PATTERNS.default) {
        const name = p.replace(/\*/g, 'model');
        assert.ok(re.test(name), `the menu's "when" clause does not match ${name} (pattern ${p})`);
      }
    }
  });

  it('declares every command the extension registers, and nothing else', () => {
    const declared = new Set((pkg.contributes.commands as { command: string }[]).map((c) => c.command));
    const registered = new Set<string>();
    // extension.ts, the comparison's commands (compare.ts, issue 14) and the remote ones
    // (remote.ts, issue 13); view ids (declared under views) and the comparison's panel id are not commands.
    const views = new Set(Object.values((pkg.contributes.views ?? {}) as Record<string, { id: string }[]>).flat().map((v) => v.id));
    for (const file of ['extension.ts', 'compare.ts', 'remote.ts']) {
      for (const m of src(file).matchAll(/'(weightscope\.[A-Za-z]+)'/g)) if (!m[1].startsWith('weightscope.checkpoint') && m[1] !== 'weightscope.parameters' && m[1] !== 'weightscope.compare' && !views.has(m[1])) registered.add(m[1]);
    }
    for (const c of registered) assert.ok(declared.has(c), `${c} is registered but not declared`);
    // One command per export in the registry (extension.ts loops over it). package.json declares
    // those with a menu entry; an export without one is still in "Export…" and the webview's menu.
    assert.match(src('extension.ts'), /for \(const format of EXPORT_FORMATS\) register\(exportCommand\(format\)/);
    const exportCommands = EXPORT_FORMATS.map(exportCommand);
    for (const c of exportCommands) registered.add(c);
    for (const c of declared) assert.ok(registered.has(c), `${c} is declared but not registered`);
    for (const c of ['weightscope.exportSvg', 'weightscope.exportPng', 'weightscope.exportMarkdown', 'weightscope.exportText', 'weightscope.exportMermaid', 'weightscope.exportJson']) {
      assert.ok(declared.has(c) && exportCommands.includes(c), `${c}: the per-format commands users and the e2e test run stay`);
    }
    const menuCommands = Object.values(pkg.contributes.menus as Record<string, { command?: string }[]>).flat().map((m) => m.command).filter(Boolean);
    for (const c of menuCommands) assert.ok(declared.has(c!), `menu item ${c}`);
  });

  it('declares the settings the extension reads', () => {
    const props = pkg.contributes.configuration.properties;
    for (const m of (src('config.ts') + src('extension.ts')).matchAll(/get<[^>]+>\('([\w.]+)'/g)) assert.ok(props[`weightscope.${m[1]}`], m[1]);
    assert.deepStrictEqual(props['weightscope.numberFormat'].enum, ['compact', 'exact']);
    assert.strictEqual(props['weightscope.expandDepth'].default, 2);
  });

  it('runs where the files are, in untrusted workspaces, from dist/', () => {
    assert.deepStrictEqual(pkg.extensionKind, ['workspace']);
    assert.strictEqual(pkg.capabilities.untrustedWorkspaces.supported, true);
    assert.strictEqual(pkg.capabilities.virtualWorkspaces.supported, false);
    assert.strictEqual(pkg.main, './dist/extension.js');
    assert.ok(fs.existsSync(path.join(REPO, pkg.icon)), pkg.icon);
  });

  it('ships only bundles, media, the manifest, README and LICENSE', () => {
    const ignore = fs.readFileSync(path.join(REPO, '.vscodeignore'), 'utf8');
    const lines = ignore.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
    assert.strictEqual(lines[0], '**', 'everything is excluded first');
    for (const keep of ['!dist/extension.js', '!dist/worker.js', '!dist/webview.js', '!dist/webview.css', '!dist/compare.js', '!dist/compare.css', '!dist/codicon.css', '!dist/codicon.ttf', '!dist/resvg.wasm', '!dist/fonts/**', '!media/**', '!package.json', '!README.md', '!LICENSE']) {
      assert.ok(lines.includes(keep), keep);
    }
    assert.ok(fs.existsSync(path.join(REPO, 'LICENSE')));
    // The PNG export loads these at run time; the build copies each one the code names.
    const build = fs.readFileSync(path.join(REPO, 'scripts', 'build.mjs'), 'utf8');
    const png = fs.readFileSync(path.join(REPO, 'src', 'core', 'export', 'png.ts'), 'utf8');
    assert.match(build, /dist\/resvg\.wasm/);
    assert.match(png, /PNG_WASM_FILE = 'resvg\.wasm'/);
    assert.match(png, /PNG_FONT_DIR = 'fonts'/);
    const fonts = (src: string) => /PNG_FONTS = (\[[^\]]*\])/.exec(src)?.[1];
    assert.ok(fonts(png) && fonts(png) === fonts(build), 'build.mjs copies the fonts png.ts loads');
    assert.ok(!pkg.dependencies, 'the extension and the CLI run from dist/ alone: no run-time dependencies');
  });

  it('keeps retainContextWhenHidden off (view state travels through setState)', () => {
    assert.doesNotMatch(src('extension.ts') + src('provider.ts') + src('compare.ts'), /retainContextWhenHidden:\s*true/);
  });
});
