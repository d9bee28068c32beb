// Bundles the extension host, its parser worker, the CLI and the webview with esbuild.
// Output goes to dist/ (ignored by git; .vscodeignore ships only dist/ and media/).
import * as esbuild from 'esbuild';
import { existsSync, mkdirSync, copyFileSync } from 'fs';

const watch = process.argv.includes('--watch');
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

const builds = [
  { ...node, entryPoints: ['src/cli/main.ts'], outfile: 'dist/cli.js', external: ['@resvg/resvg-js'] },
];
if (existsSync('src/extension/extension.ts')) {
  builds.push({ ...node, entryPoints: ['src/extension/extension.ts'], outfile: 'dist/extension.js', external: ['vscode', '@resvg/resvg-js'] });
}
if (existsSync('src/extension/worker.ts')) {
  builds.push({ ...node, entryPoints: ['src/extension/worker.ts'], outfile: 'dist/worker.js', external: ['@resvg/resvg-js'] });
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

mkdirSync('dist', { recursive: true });
// Codicons ship with the extension (no remote content in the webview).
for (const f of ['codicon.css', 'codicon.ttf']) {
  const src = `node_modules/@vscode/codicons/dist/${f}`;
  if (existsSync(src)) copyFileSync(src, `dist/${f}`);
}

if (watch) {
  for (const b of builds) (await esbuild.context(b)).watch();
} else {
  await Promise.all(builds.map((b) => esbuild.build(b)));
}
