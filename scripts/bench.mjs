// npm run bench: runs every section in scripts/bench/*.mjs against the compiled core (out/).
// Each section exports `default async function (report)`; report(label, value) prints a line.
// Figures are ratios measured within one run: these machines are shared and noisy.
import { readdirSync } from 'fs';
import { pathToFileURL } from 'url';
import * as path from 'path';

const dir = path.join(path.dirname(new URL(import.meta.url).pathname), 'bench');
const only = process.argv.slice(2);
const sections = readdirSync(dir).filter((f) => f.endsWith('.mjs')).sort();
for (const f of sections) {
  const name = f.replace(/\.mjs$/, '');
  if (only.length && !only.includes(name)) continue;
  console.log(`\n## ${name}`);
  const mod = await import(pathToFileURL(path.join(dir, f)).href);
  await mod.default((label, value) => console.log(`${label.padEnd(56)} ${value}`));
}
