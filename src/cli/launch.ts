/**
 * dist/cli.js, what bin/weightscope.js runs (issue 11, start-up): it answers `weightscope
 * --version` by itself, without reading the command's bundle (dist/cli-main.js, main.ts and the
 * whole core), and loads that bundle for everything else.
 */
import { writeOut } from './pipe';
import { VERSION } from './version';

export async function main(argv: string[]): Promise<number> {
  if (argv.length === 1 && argv[0] === '--version') {
    await writeOut(`${VERSION}\n`);
    return 0;
  }
  // Built beside this file by scripts/build.mjs; a plain require, so that esbuild leaves it out of this bundle.
  const command: { main(argv: string[]): Promise<number> } = require('./cli-main.js');
  return command.main(argv);
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
