/**
 * Conformance with other projects' pickle-safety test data:
 * - picklescan's 109 sample files (`../shared/conformance/picklescan/`, found by walking up from
 *   the repository to a sibling `shared/conformance`), each against its expected.json entry;
 * - the globals fickling's test suite expects flagged, rebuilt opcode by opcode (fickling-cases.ts).
 * Nothing in a pickle is ever executed: every verdict comes from the inert unpickler.
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { openCheckpoint, toReport, CheckpointError } from '../src/core';
import { SafetyGlobal } from '../src/core/model';
import { ficklingCases } from './fickling-cases';
import { REPO, tempDir } from './helpers';

/** The shared conformance folder: `shared/conformance` beside the repository or an ancestor of it. */
export function conformanceRoot(): string | undefined {
  let dir = REPO;
  for (;;) {
    const c = path.join(dir, 'shared', 'conformance');
    if (fs.existsSync(path.join(c, 'picklescan', 'expected.json'))) return c;
    const up = path.dirname(dir);
    if (up === dir) return undefined;
    dir = up;
  }
}

interface Expected {
  kind: 'pickle' | 'error' | 'model';
  dangerous?: string[];
  why?: string;
}

/**
 * Where expected.json lists no dangerous global but the file plainly calls one. Weightscope
 * flags these on purpose; the test holds it to exactly these globals.
 */
const STRICTER: Record<string, { dangerous: string[]; why: string }> = {
  'tests/data/malicious6.pkl': {
    dangerous: ['requests.api.get'],
    why: "a second pickle after the first calls requests.api.get('https://github.com'); picklescan's own test_scan_file_path expects Global('requests.api', 'get', Dangerous) for this file",
  },
  'tests/data/sys_module_override_sploit.pkl': {
    dangerous: ['builtins.eval', 'torch._utils'],
    why: "it rewrites torch._utils._rebuild_tensor (BUILD on the module) so that a later STACK_GLOBAL resolves to builtins.eval, then calls builtins.eval('exec(...)'); picklescan flags it as the unresolvable global `_rebuild_tensor.unknown`",
  },
};

function byName(globals: SafetyGlobal[]): Map<string, SafetyGlobal> {
  return new Map(globals.map((g) => [g.name, g]));
}

function listFiles(root: string, rel: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(path.join(root, rel), { withFileTypes: true })) {
    const r = `${rel}/${e.name}`;
    if (e.isDirectory()) out.push(...listFiles(root, r));
    else out.push(r);
  }
  return out;
}

const ROOT = conformanceRoot();

describe("conformance: picklescan's samples against expected.json", function () {
  if (!ROOT) {
    it('finds ../shared/conformance (a sibling of the repository or of an ancestor)', () => {
      assert.fail(`no shared/conformance/picklescan/expected.json beside ${REPO} or any folder above it: the conformance suite cannot run`);
    });
    return;
  }
  const base = path.join(ROOT, 'picklescan');
  const expected = JSON.parse(fs.readFileSync(path.join(base, 'expected.json'), 'utf8')) as Record<string, Expected>;

  it('expected.json names every sample file, and every name is a file', () => {
    const files = listFiles(base, 'tests').sort();
    assert.deepStrictEqual(files, Object.keys(expected).sort());
    assert.strictEqual(files.length, 109);
  });

  for (const [rel, exp] of Object.entries(expected)) {
    const file = path.join(base, rel);
    if (exp.kind === 'error') {
      it(`${rel}: not a checkpoint, a one-line typed error`, async () => {
        const e = await openCheckpoint(file).then(
          () => assert.fail('expected an error'),
          (x: unknown) => x,
        );
        assert.ok(e instanceof CheckpointError, String(e));
        assert.doesNotMatch(e.message, /\n/);
        assert.ok(e.message.includes(path.basename(rel)), e.message);
      });
    } else if (exp.kind === 'model') {
      it(`${rel}: a benign checkpoint that opens`, async () => {
        const cp = await openCheckpoint(file);
        assert.match(cp.format, /^pytorch-(zip|legacy)$/);
        assert.ok(cp.tensors.length > 0);
        assert.strictEqual(cp.safety?.verdict, 'safe');
      });
    } else {
      const stricter = STRICTER[rel];
      const dangerous = stricter?.dangerous ?? exp.dangerous ?? [];
      const title = dangerous.length ? `flags ${dangerous.join(', ')} as dangerous` : 'is benign: no dangerous verdict';
      it(`${rel}: ${title}${stricter ? ' (stricter than expected.json: see STRICTER)' : ''}`, async () => {
        const r = toReport(await openCheckpoint(file));
        const s = r.safety;
        assert.ok(s, 'a safety report');
        const g = byName(s.globals);
        for (const name of dangerous) {
          assert.strictEqual(g.get(name)?.verdict, 'dangerous', `${name}: ${JSON.stringify(g.get(name))}`);
          assert.strictEqual(g.get(name)?.unsafe, true);
        }
        if (dangerous.length) {
          assert.strictEqual(s.verdict, 'dangerous');
          assert.ok(r.warnings.some((w) => w.code === 'unsafe-global'));
        } else {
          assert.ok(s.globals.every((x) => x.verdict !== 'dangerous'), JSON.stringify(s.globals));
          assert.notStrictEqual(s.verdict, 'dangerous');
        }
        if (stricter) assert.deepStrictEqual(s.globals.filter((x) => x.verdict === 'dangerous').map((x) => x.name).sort(), [...stricter.dangerous].sort(), stricter.why);
        // Every dangerous global that the pickle calls carries its decoded call.
        for (const x of s.globals) if (x.verdict === 'dangerous' && x.action === 'call') assert.ok(x.calls?.length, `${x.name} has no decoded call`);
      });
    }
  }
});

describe("conformance: the globals fickling's test suite expects flagged", function () {
  const cases = ficklingCases();
  let dir: string;
  before(() => {
    dir = tempDir('weightscope-fickling-');
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it(`${cases.length} expectations, from ${new Set(cases.map((c) => c.source.split('::')[0])).size} test files`, () => {
    assert.ok(cases.length > 300);
  });

  cases.forEach((c, i) => {
    it(`${c.source}: ${c.name} → ${c.expect}${c.globals?.length ? ` (${c.globals.join(', ')})` : ''}`, async () => {
      const sub = path.join(dir, String(i));
      fs.mkdirSync(sub);
      const file = path.join(sub, c.file);
      fs.writeFileSync(file, c.bytes);
      const r = toReport(await openCheckpoint(file));
      const s = r.safety;
      assert.ok(s, 'a safety report');
      const g = byName(s.globals);
      const show = () => JSON.stringify(s.globals.map((x) => [x.name, x.verdict, x.action, x.unsafe ?? false]));
      for (const name of c.globals ?? []) {
        const x = g.get(name);
        assert.ok(x, `${name} is not reported: ${show()}`);
        if (c.expect === 'dangerous') assert.strictEqual(x.verdict, 'dangerous', show());
        if (c.expect === 'dangerous' || c.expect === 'flagged') assert.strictEqual(x.unsafe, true, show());
      }
      if (c.expect === 'dangerous') assert.strictEqual(s.verdict, 'dangerous');
      if (c.expect === 'flagged') assert.ok(s.globals.some((x) => x.unsafe) && r.warnings.some((w) => w.code === 'unsafe-global'), show());
      if (c.expect === 'safe') assert.ok(s.globals.every((x) => !x.unsafe && x.verdict !== 'dangerous'), show());
      if (c.expect === 'not-dangerous') assert.ok(s.globals.every((x) => x.verdict !== 'dangerous'), show());
    });
  });
});
