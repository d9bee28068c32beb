import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { findCycles, importGraph, sourceFiles, specifiers } from './import-graph';
import { REPO, tempDir } from './helpers';

/** Every source tree of the product: the core, CLI and host (src/), the webview, and a root shared/ if there is one. */
const ROOTS = ['src', 'webview/src', 'shared'].map((d) => path.join(REPO, d));

const rel = (f: string) => path.relative(REPO, f).split(path.sep).join('/');

describe('import graph', () => {
  it('has no import cycle in src/ and webview/src/ (type-only imports included)', () => {
    const files = ROOTS.flatMap(sourceFiles);
    assert.ok(files.length > 50, `found ${files.length} source files`);
    const graph = importGraph(files);
    // The walk follows imports across the trees (src → webview/src/shared and back).
    assert.ok([...graph.values()].some((deps) => deps.length > 0));
    const cycles = findCycles(graph);
    assert.deepStrictEqual(
      cycles.map((c) => c.map(rel).join(' → ')),
      [],
      `import cycles:\n${cycles.map((c) => `  ${c.map(rel).join(' → ')}`).join('\n')}`,
    );
  });

  it('sees every way a file names another, and reports a cycle with its path', () => {
    const text = [
      "import a from './a';",
      "import type { B } from './b';",
      "export { c } from './c';",
      "export * from './d';",
      "import e = require('./e');",
      "const f = require('./f');",
      "const g = import('./g');",
      "let h: import('./h').H;",
      "import 'vscode';",
      '// import x from "./not-code";',
      "const s = 'import y from \"./in-a-string\"';",
    ].join('\n');
    assert.deepStrictEqual(specifiers('x.ts', text), ['./a', './b', './c', './d', './e', './f', './g', './h', 'vscode']);

    const dir = tempDir();
    try {
      const write = (name: string, body: string) => {
        fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
        fs.writeFileSync(path.join(dir, name), body);
      };
      write('formats/index.ts', "import { reader } from './reader';\nexport const READERS = [reader];\n");
      write('formats/reader.ts', "import type { Reader } from './index';\nexport const reader = {} as Reader;\n");
      write('open.ts', "import { READERS } from './formats';\nexport const n = READERS.length;\n");
      write('self.ts', "export * from './self.js';\n");
      write('ok.ts', "import { n } from './open';\nexport const m = n;\n");
      const cycles = findCycles(importGraph(sourceFiles(dir))).map((c) => c.map((f) => path.relative(dir, f).split(path.sep).join('/')));
      assert.deepStrictEqual(cycles.sort(), [
        ['formats/index.ts', 'formats/reader.ts', 'formats/index.ts'],
        ['self.ts', 'self.ts'],
      ]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
