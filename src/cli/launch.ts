/**
 * dist/cli.js, what bin/weightscope.js runs (issue 11, start-up): it answers `weightscope
 * --version` by itself, without reading the command's bundle (dist/cli-main.js, main.ts and the
 * whole core), loads dist/cli-diff.js for `weightscope diff` and the command's bundle for
 * everything else.
 */
import * as path from 'path';
import { loadBundle } from './bundles';
import { writeOut } from './pipe';
import { VERSION } from './version';

export { loadedBundles, saveCodeCaches } from './bundles';

export async function main(argv: string[]): Promise<number> {
  if (argv.length === 1 && argv[0] === '--version') {
    await writeOut(`${VERSION}\n`);
    return 0;
  }
  // Built beside this file by scripts/build.mjs, with their code caches (bundles.ts). `diff` goes
  // straight to its own bundle, as main.ts would send it there.
  if (argv[0] === 'diff') {
    const diff = loadBundle<{ diffMain(argv: string[]): Promise<number> }>(path.join(__dirname, 'cli-diff.js')).exports;
    return diff.diffMain(argv.slice(1));
  }
  const command = loadBundle<{ main(argv: string[]): Promise<number> }>(path.join(__dirname, 'cli-main.js')).exports;
  return command.main(argv);
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
