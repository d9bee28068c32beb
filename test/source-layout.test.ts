/**
 * Where code lives (docs/architecture.md): src/ never reaches into the webview's sources,
 * src/shared/ runs in all three places (no Node, DOM or vscode import), the worker and the core
 * never import vscode.
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { REPO, filesUnder } from './helpers';

const tsFiles = (dir: string): string[] => filesUnder(dir, (n) => n.endsWith('.ts'));

/** Module specifiers a file imports (static, dynamic, require). */
function imports(file: string): string[] {
  const src = fs.readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of src.matchAll(/(?:^|\n)\s*(?:import|export)\b[^'"]*?from\s*'([^']+)'|import\(\s*'([^']+)'\s*\)|require\(\s*'([^']+)'\s*\)|(?:^|\n)\s*import\s+'([^']+)'/g)) out.push(m[1] ?? m[2] ?? m[3] ?? m[4]);
  return out;
}

const rel = (f: string) => path.relative(REPO, f);

describe('source layout', () => {
  it('no file under src/ imports the webview sources', () => {
    for (const f of tsFiles(path.join(REPO, 'src'))) {
      for (const spec of imports(f)) assert.ok(!/(^|\/)webview\//.test(spec), `${rel(f)} imports ${spec}`);
    }
  });

  it('src/shared/ imports no Node module, vscode or webview code, and only types and pure helpers from the core', () => {
    const files = tsFiles(path.join(REPO, 'src', 'shared'));
    assert.ok(files.length >= 4);
    // d3-hierarchy: the map's layout (icicle.ts), pure JavaScript with no Node or DOM use, runs
    // in the webview and in the core's map export alike.
    const packages = ['d3-hierarchy'];
    for (const f of files) {
      for (const spec of imports(f)) {
        if (packages.includes(spec)) continue;
        assert.ok(spec.startsWith('.'), `${rel(f)} imports the package ${spec}`);
        const target = path.resolve(path.dirname(f), spec);
        const allowed = target.startsWith(path.join(REPO, 'src', 'shared')) || ['model', 'numbers'].some((m) => target === path.join(REPO, 'src', 'core', m));
        assert.ok(allowed, `${rel(f)} imports ${spec}`);
      }
    }
  });

  it('the webview imports from src/ only through src/shared/ (types excepted)', () => {
    for (const f of tsFiles(path.join(REPO, 'webview', 'src'))) {
      const text = fs.readFileSync(f, 'utf8');
      for (const m of text.matchAll(/(?:^|\n)\s*(import|export)(\s+type)?\b[^'"]*?from\s*'([^']+)'/g)) {
        const target = path.resolve(path.dirname(f), m[3]);
        if (m[2] || !target.startsWith(path.join(REPO, 'src') + path.sep)) continue;
        assert.ok(target.startsWith(path.join(REPO, 'src', 'shared') + path.sep), `${rel(f)} imports ${m[3]}`);
      }
    }
  });

  it('the core, the worker and the CLI never import vscode', () => {
    for (const dir of ['core', 'worker', 'cli', 'shared']) {
      for (const f of tsFiles(path.join(REPO, 'src', dir))) assert.ok(!imports(f).includes('vscode'), `${rel(f)} imports vscode`);
    }
  });

  it('the host side never opens or analyses a checkpoint itself: the worker does (loader.ts starts it)', () => {
    const forbidden = ['index', 'open', 'analyze', 'report'].map((m) => path.join(REPO, 'src', 'core', m));
    for (const f of tsFiles(path.join(REPO, 'src', 'extension'))) {
      for (const spec of imports(f)) {
        const target = path.resolve(path.dirname(f), spec);
        assert.ok(!forbidden.includes(target) && target !== path.join(REPO, 'src', 'core'), `${rel(f)} imports ${spec}`);
      }
    }
  });
});
