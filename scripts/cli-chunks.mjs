// The command's bundle (dist/cli-main.js) and its chunks: code that only some inputs need (the
// ONNX, GGUF and DCP readers, the quantization detectors, the remote client) is built into files
// of its own and loaded when first required (issue 11, start-up: every run reads, deserializes
// and initialises the whole bundle, ~5 ms per 100 KB).
//
// The source says where a chunk starts: a module listed in `chunks` that the code reaches only
// through `require()` inside a function (`const onnx = () => require('./onnx-read')`). Every
// module is built into exactly one file, so module state and classes (`instanceof
// CheckpointError`) are one, as in a single bundle:
//
// 1. Each file is bundled once to learn its modules (the other chunks' entries left out). A module
//    the command's bundle has is its own; a module two chunks share moves into the command's
//    bundle; the rest belong to the one chunk that has them.
// 2. Each file is bundled again, with the modules another file owns left as `require('ws:<file>:<module>')`,
//    and exports `__ws`: its modules that other files import, by path. src/cli/bundles.ts
//    resolves those requires, loading a chunk the first time one of its modules is asked for.
//
// The build fails if the command's own code imports a chunk's entry statically (the chunk would
// load on every run, which is what this is for avoiding).
import * as esbuild from 'esbuild';
import { builtinModules } from 'module';
import * as path from 'path';

const BUILTIN = new Set([...builtinModules, ...builtinModules.map((m) => `node:${m}`)]);
const rel = (p) => path.relative(process.cwd(), p).split(path.sep).join('/');
const STDIN = '<stdin>';

/**
 * base: esbuild options shared by every file (no entryPoints/outfile); entry: the command's entry
 * (`src/cli/main.ts`); outfile: its bundle; chunks: { 'src/…/entry.ts': 'cli-x.js' } beside it;
 * separate: { 'src/…/module.ts': './cli-y.js' }, modules required as bundles of their own, which
 * hold their own copies of what they use (build.mjs, CLI_BUNDLES).
 */
export async function buildChunked({ base, entry, outfile, chunks, separate = {} }) {
  const outdir = path.dirname(outfile);
  const main = path.basename(outfile);
  const files = [{ file: main, entry }, ...Object.entries(chunks).map(([e, file]) => ({ file, entry: e }))];
  const chunkOfEntry = new Map(Object.entries(chunks));

  // Pass 1: each file's modules, with the other chunks' entries left out.
  const build1 = async (f, extra) => {
    const r = await esbuild.build({
      ...base,
      write: false,
      metafile: true,
      sourcemap: false,
      stdin: f.file === main ? entryModule(f, extra, true) : entryModule(f, [f.entry], false),
      outfile: path.join(outdir, f.file),
      plugins: [resolver(separate, (m) => (m !== f.entry && chunkOfEntry.has(m) ? { owner: chunkOfEntry.get(m), key: m } : undefined))],
    });
    return r.metafile;
  };
  const metas = new Map();
  for (const f of files) metas.set(f.file, await build1(f, []));
  const modulesOf = (meta) => new Set(Object.keys(meta.inputs).filter((k) => k !== STDIN));

  // A module two chunks share (and the command's bundle has not) moves into the command's bundle.
  let mainModules = modulesOf(metas.get(main));
  const seen = new Map();
  const hoisted = [];
  for (const f of files.slice(1)) {
    for (const m of modulesOf(metas.get(f.file))) {
      if (mainModules.has(m) || chunkOfEntry.has(m)) continue;
      if (seen.has(m) && seen.get(m) !== f.file && !hoisted.includes(m)) hoisted.push(m);
      else seen.set(m, f.file);
    }
  }
  if (hoisted.length) {
    metas.set(main, await build1(files[0], hoisted));
    mainModules = modulesOf(metas.get(main));
  }
  const owner = new Map();
  for (const m of mainModules) owner.set(m, main);
  for (const f of files.slice(1)) for (const m of modulesOf(metas.get(f.file))) if (!owner.has(m)) owner.set(m, f.file);
  for (const [e, file] of chunkOfEntry) owner.set(e, file);

  // The command's own code must reach a chunk only through require().
  for (const [m, input] of Object.entries(metas.get(main).inputs)) {
    for (const imp of input.imports) {
      const target = imp.path.startsWith('ws:') ? imp.path.slice(imp.path.indexOf(':', 3) + 1) : undefined;
      if (target && chunkOfEntry.has(target) && imp.kind !== 'require-call') {
        throw new Error(`${m} imports ${target} (${imp.kind}): a chunk's entry is reached only through require() inside a function, or it loads on every run`);
      }
    }
  }

  // What each file must export for the others: walk each file's modules from its entry, stopping
  // at a module another file owns (that file's to export).
  const needs = new Map(files.map((f) => [f.file, new Set()]));
  for (const f of files) {
    const inputs = metas.get(f.file).inputs;
    const stack = [f.entry, ...(f.file === main ? hoisted : [])];
    const visited = new Set();
    while (stack.length) {
      const m = stack.pop();
      if (visited.has(m)) continue;
      visited.add(m);
      const o = owner.get(m);
      if (o !== undefined && o !== f.file) {
        needs.get(o).add(m);
        continue;
      }
      for (const imp of inputs[m]?.imports ?? []) {
        if (imp.path.startsWith('ws:')) stack.push(imp.path.slice(imp.path.indexOf(':', 3) + 1));
        else if (!imp.external) stack.push(imp.path);
      }
    }
  }
  for (const [e, file] of chunkOfEntry) needs.get(file).add(e);

  // Pass 2: the files as shipped.
  for (const f of files) {
    const extra = [...needs.get(f.file)].filter((m) => !(f.file === main && m === f.entry)).sort();
    await esbuild.build({
      ...base,
      stdin: entryModule(f, extra, f.file === main),
      outfile: path.join(outdir, f.file),
      plugins: [resolver(separate, (m) => (owner.has(m) && owner.get(m) !== f.file ? { owner: owner.get(m), key: m } : undefined))],
    });
  }
}

/**
 * The file's entry: the command's bundle re-exports main.ts; every file exports `__ws`, its
 * modules that other files import (namespace objects, so bindings stay live).
 */
function entryModule(f, exported, reexport) {
  const lines = [];
  if (reexport) lines.push(`export * from ${JSON.stringify('./' + f.entry)};`);
  exported.forEach((m, i) => lines.push(`import * as m${i} from ${JSON.stringify('./' + m)};`));
  lines.push(`export const __ws = { ${exported.map((m, i) => `${JSON.stringify(m)}: m${i}`).join(', ')} };`);
  return { contents: lines.join('\n'), resolveDir: process.cwd(), sourcefile: `${f.file}-entry.js`, loader: 'js' };
}

/**
 * Imports of a module `elsewhere` names become `require('ws:<file>:<module>')`, left to
 * src/cli/bundles.ts; those of a `separate` module, a require of its bundle.
 */
function resolver(separate, elsewhere) {
  return {
    name: 'cli-chunks',
    setup(build) {
      build.onResolve({ filter: /.*/ }, async (args) => {
        if (args.pluginData === 'cli-chunks' || BUILTIN.has(args.path) || args.path.startsWith('ws:')) return undefined;
        if (args.kind === 'entry-point') return undefined;
        const r = await build.resolve(args.path, { kind: args.kind, importer: args.importer, resolveDir: args.resolveDir, pluginData: 'cli-chunks' });
        if (r.errors.length || r.external || !path.isAbsolute(r.path)) return r.errors.length ? { errors: r.errors } : undefined;
        const m = rel(r.path);
        if (separate[m]) return { path: separate[m], external: true };
        const to = elsewhere(m);
        return to ? { path: `ws:${to.owner}:${to.key}`, external: true } : { path: r.path, namespace: r.namespace, sideEffects: r.sideEffects, pluginData: r.pluginData };
      });
    },
  };
}
