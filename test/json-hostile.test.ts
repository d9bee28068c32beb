/** The strict JSON parser (json.ts) on long values: work and memory in proportion to the bytes. */
import * as assert from 'assert';
import { parseJson } from '../src/core/json';

describe('strict JSON on hostile lengths', () => {
  it('a number of 20 million digits: one slice of the text, not a string per digit (6 s and a 700 MB rope before)', () => {
    const b = Buffer.alloc(20_000_002, 0x31);
    b[0] = 0x5b;
    b[b.length - 1] = 0x5d;
    const started = Date.now();
    assert.deepStrictEqual(parseJson(b, { file: 'f' }), [Infinity]);
    const ms = Date.now() - started;
    assert.ok(ms < 2000, `${ms} ms`);
    assert.deepStrictEqual(parseJson(Buffer.from('[0, -0.5, 123.5e2, 1E-2, 9007199254740993]'), { file: 'f' }), [0, -0.5, 12350, 0.01, 9007199254740992]);
  });

  it('a string of 12 million escapes: joined in blocks, not appended one by one (5 s and a rope of 12 million nodes before)', () => {
    const n = 12_000_000;
    const b = Buffer.from(`["${'\\n'.repeat(n - 2)}ab\\u00e9"]`);
    const started = Date.now();
    const v = parseJson(b, { file: 'f' }) as string[];
    const ms = Date.now() - started;
    assert.strictEqual(v[0].length, n + 1);
    assert.strictEqual(v[0].slice(0, 3), '\n\n\n');
    assert.strictEqual(v[0].slice(-4), '\nabé');
    assert.ok(ms < 2000, `${ms} ms`);
    // Escapes around multi-byte text and surrogate pairs split across escapes.
    assert.deepStrictEqual(parseJson(Buffer.from('["é\\tü\\ud83d\\ude00x", "\\\\", "\\u0041\\/"]'), { file: 'f' }), ['é\tü😀x', '\\', 'A/']);
  });
});
