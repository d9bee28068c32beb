// Bundles the extension host, its parser worker, the CLI and the webview with esbuild, and copies
// what they load at run time beside them: codicons (webview), resvg's WebAssembly and the DejaVu
// fonts (PNG export, in the worker and the CLI; see src/core/export/png.ts).
// Output goes to dist/ (ignored by git; .vscodeignore ships only dist/ and media/).
import * as esbuild from 'esbuild';
import { spawnSync } from 'child_process';
import { existsSync, mkdirSync, copyFileSync } from 'fs';
import * as path from 'path';
import { buildChunked } from './cli-chunks.mjs';

const watch = process.argv.includes('--watch');
const PNG_FONTS = ['DejaVuSans.ttf', 'DejaVuSans-Bold.ttf', 'DejaVuSans-Oblique.ttf', 'DejaVuSansMono.ttf', 'DejaVuSansMono-Bold.ttf', 'DejaVuSansMono-Oblique.ttf'];
const production = process.argv.includes('--production');

const node = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: !production,
  minify: production,
  logLevel: 'warning',
};

// The CLI (issue 11, start-up): dist/cli.js, which bin/weightscope.js requires, is small and
// answers --version by itself; it loads dist/cli-diff.js for `weightscope diff` and
// dist/cli-main.js, the command, for the rest. The export registry (SVG, PNG, map, Markdown,
// Mermaid), which the command requires only when a format is named, is dist/cli-export.js. The
// command's bundle is read and parsed on every run: what it does not need stays out of it (each
// ~100 KB costs ~5 ms). Code only some inputs need is in chunks of the command's bundle
// (CLI_CHUNKS, scripts/cli-chunks.mjs), loaded when first required, which share its modules. All
// are built without whitespace and comments (names are kept; the source map still maps them in
// development builds). dist/cli.js loads the command's and diff's bundles, and the chunks, with
// the V8 code caches written after bundling (src/cli/bundles.ts). The diff and export bundles
// each hold their own copy of the core modules they use: nothing crosses between them and the
// command but plain data (a Checkpoint, argv) and ExportError, which the command recognises by
// its name.
const CLI_BUNDLES = { 'src/cli/diff.ts': './cli-diff.js', 'src/core/export/index.ts': './cli-export.js' };
const cliBundles = {
  name: 'cli-bundles',
  setup(build) {
    build.onResolve({ filter: /^\./ }, async (args) => {
      if (args.pluginData === 'cli-bundles') return undefined;
      const r = await build.resolve(args.path, { kind: args.kind, resolveDir: args.resolveDir, pluginData: 'cli-bundles' });
      const bundle = CLI_BUNDLES[path.relative(process.cwd(), r.path).split(path.sep).join('/')];
      return bundle ? { path: bundle, external: true } : undefined;
    });
  },
};
const cli = { ...node, minifyWhitespace: true };
// Chunks of the command's bundle, each loaded the first time the command needs it
// (scripts/cli-chunks.mjs): the source reaches each entry only through require() in a function.
const CLI_CHUNKS = {
  'src/core/formats/onnx-read.ts': 'cli-onnx.js',
  'src/core/formats/gguf-read.ts': 'cli-gguf.js',
  'src/core/formats/dcp-read.ts': 'cli-dcp.js',
  'src/core/quant/index.ts': 'cli-quant.js',
  'src/core/remote/index.ts': 'cli-remote.js',
};
const builds = [
  { ...node, entryPoints: ['src/cli/launch.ts'], outfile: 'dist/cli.js' },
  { ...cli, entryPoints: ['src/cli/diff.ts'], outfile: 'dist/cli-diff.js' },
  { ...cli, entryPoints: ['src/core/export/index.ts'], outfile: 'dist/cli-export.js' },
];
if (existsSync('src/extension/extension.ts')) {
  builds.push({ ...node, entryPoints: ['src/extension/extension.ts'], outfile: 'dist/extension.js', external: ['vscode'] });
}
if (existsSync('src/worker/main.ts')) {
  builds.push({ ...node, entryPoints: ['src/worker/main.ts'], outfile: 'dist/worker.js' });
}
if (existsSync('webview/src/main.ts')) {
  builds.push({
    bundle: true,
    platform: 'browser',
    target: 'es2022',
    format: 'iife',
    sourcemap: !production,
    minify: production,
    logLevel: 'warning',
    entryPoints: ['webview/src/main.ts'],
    outfile: 'dist/webview.js',
  });
}
// The comparison view (issue 14): a page of its own, the same stack.
if (existsSync('webview/src/compare/main.ts')) {
  builds.push({ ...builds[builds.length - 1], entryPoints: ['webview/src/compare/main.ts'], outfile: 'dist/compare.js' });
}

mkdirSync('dist/fonts', { recursive: true });
// Codicons ship with the extension (no remote content in the webview).
for (const f of ['codicon.css', 'codicon.ttf']) {
  const src = `node_modules/@vscode/codicons/dist/${f}`;
  if (existsSync(src)) copyFileSync(src, `dist/${f}`);
}
// PNG export: names must match PNG_WASM_FILE, PNG_FONT_DIR and PNG_FONTS in src/core/export/png.ts.
copyFileSync('node_modules/@resvg/resvg-wasm/index_bg.wasm', 'dist/resvg.wasm');
for (const f of PNG_FONTS) copyFileSync(`node_modules/dejavu-fonts-ttf/ttf/${f}`, `dist/fonts/${f}`);
copyFileSync('node_modules/dejavu-fonts-ttf/LICENSE', 'dist/fonts/LICENSE');

if (watch) {
  // Watching, the command is one bundle (its chunks' code inline, initialised when required).
  builds.push({ ...cli, entryPoints: ['src/cli/main.ts'], outfile: 'dist/cli-main.js', plugins: [cliBundles] });
  for (const b of builds) (await esbuild.context(b)).watch();
} else {
  await Promise.all([
    ...builds.map((b) => esbuild.build(b)),
    buildChunked({ base: cli, entry: 'src/cli/main.ts', outfile: 'dist/cli-main.js', chunks: CLI_CHUNKS, separate: CLI_BUNDLES }),
  ]);
  // The command's code caches (src/cli/bundles.ts), made by running it with this Node. Without
  // them the command is the same, only slower to start: a failure here is a warning.
  const cache = spawnSync(process.execPath, ['scripts/code-cache.cjs'], { stdio: ['ignore', 'ignore', 'inherit'] });
  if (cache.status !== 0) console.warn(`warning: the CLI's code caches were not written (scripts/code-cache.cjs exited with ${cache.status ?? cache.signal})`);
}
