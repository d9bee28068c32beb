/**
 * JsonBytes writes JSON into bytes as JSON.stringify(value, null, 2) writes it (issue 11: the
 * `--json` writer). Every case is checked against JSON.stringify itself, byte for byte in UTF-8.
 */
import * as assert from 'assert';
import { JsonBytes } from '../src/core/json-bytes';

/** `v` written by JsonBytes as a document, with small chunks taken as the report's writer takes them. */
function written(v: unknown, chunk = 1 << 16): Buffer {
  const out = new JsonBytes(chunk);
  const parts: Buffer[] = [];
  if (!out.value(v, 0)) return Buffer.from('undefined');
  parts.push(Buffer.from(out.take())); // a copy: the buffer is reused
  return Buffer.concat(parts);
}

function same(v: unknown, what = JSON.stringify(v)): void {
  const expected = JSON.stringify(v, null, 2) ?? 'undefined';
  assert.deepStrictEqual(written(v), Buffer.from(expected, 'utf8'), `${what}: ${written(v).toString()} vs ${expected}`);
  // The same value nested in arrays and objects, at other indentation levels.
  const nested = { a: [v, { b: v, c: [[v]] }], d: v };
  assert.strictEqual(written(nested).toString('utf8'), JSON.stringify(nested, null, 2), what);
}

const HOSTILE_STRINGS = [
  '',
  'plain.name.weight',
  'quote"inside',
  'back\\slash',
  '\\"',
  '"',
  '\\',
  'tab\tnewline\nreturn\rform\fback\b',
  '\u0000nul',
  'del\u007f',
  'latin-1 é ü ß ÿ',
  'CJK 模型.权重',
  'emoji 🦙 pair',
  'lone high \ud800 here',
  'lone low \udc00 here',
  'trailing high \udbff',
  '\udfff leading low',
  'reversed pair \udc00\ud800',
  'line separator \u2028 and paragraph \u2029',
  'bom \ufeff, replacement \ufffd, nonchar \uffff',
  'mixed "a\\b"\u0001\u001f\u2028\ud83e\udd99\ud800' + 'x'.repeat(300),
];

describe('JsonBytes: JSON as JSON.stringify(…, null, 2) writes it, in bytes', () => {
  it('escapes every string as JSON.stringify does (quotes, backslashes, control characters, lone surrogates, U+2028)', () => {
    for (const s of HOSTILE_STRINGS) same(s, JSON.stringify(s));
  });

  it('writes each of the first 256 code units and every surrogate boundary as JSON.stringify does', () => {
    for (let c = 0; c < 256; c++) same(`a${String.fromCharCode(c)}b`, `U+${c.toString(16)}`);
    for (const c of [0xd7ff, 0xd800, 0xdbff, 0xdc00, 0xdfff, 0xe000, 0x2028, 0x2029, 0xfffe, 0xffff]) {
      same(String.fromCharCode(c), `U+${c.toString(16)}`);
      same(`x${String.fromCharCode(c)}`, `x U+${c.toString(16)}`);
    }
  });

  it('writes numbers as JSON.stringify does', () => {
    const numbers = [0, -0, 1, -1, 9, 10, 99, 100, 2 ** 31 - 1, 2 ** 31, 2 ** 32, -(2 ** 31), -(2 ** 31) - 1, 1853444328, 684_489_845_760, 2 ** 53 - 1, -(2 ** 53 - 1),
      2 ** 53, 2 ** 53 + 2, 2 ** 60, 1e20, 1e21, 1e22, -1e21, 1.5, -0.25, 0.1, 1 / 3, 1e-7, 1e-6, 5e-324, Number.MAX_VALUE, -Number.MAX_VALUE, Number.EPSILON, NaN, Infinity, -Infinity];
    for (const n of numbers) same(n, String(n));
    for (let i = 0; i < 540; i++) {
      const n = Math.floor(Math.random() * 2 ** (i % 54)); // integers of every digit count
      same(n, String(n));
      same(-n, String(-n));
      same(Math.random() * 10 ** ((i % 40) - 20), 'a random double');
    }
  });

  it('writes structures, empty ones and what JSON.stringify leaves out as it does', () => {
    same(null);
    same(true);
    same(false);
    same([]);
    same({});
    same([[]]);
    same([{}]);
    same({ a: {}, b: [] });
    same([1, 'two', null, true, [3, [4, []]], { x: { y: {} } }]);
    same({ keep: 1, gone: undefined, fn: () => 1, sym: Symbol('s'), also: 2 });
    same({ gone: undefined }); // every member left out: {}
    same([undefined, () => 1, Symbol('s')]); // null in an array
    // eslint-disable-next-line no-sparse-arrays
    same([1, , 3]); // a hole
    same({ b: 1, 2: 'two', 1: 'one', a: 4, '-1': 5, '01': 6 }); // integer-like keys first
    const hostileKeys: Record<string, number> = {};
    HOSTILE_STRINGS.forEach((s, i) => (hostileKeys[s] = i));
    same(hostileKeys, 'hostile keys');
    same({ bytesByDtype: { float8_e4m3fn: 684_489_845_760, bfloat16: 2 ** 40 }, shape: [7168, 129280] });
  });

  it('hands what is not plain data to JSON.stringify, with the same result', () => {
    class Point {
      constructor(
        public x: number,
        public y: number,
      ) {}
    }
    const nullProto = Object.create(null) as Record<string, unknown>;
    nullProto.z = 1;
    nullProto.a = [2];
    same(new Date(0));
    same({ when: new Date(86_400_000) });
    same({ gone: { toJSON: () => undefined }, kept: 1 });
    same([{ toJSON: () => undefined }]);
    same({ toJSON: () => ({ replaced: [1] }) });
    same(new Map([['a', 1]]));
    same(new Set([1]));
    same(new Point(1, 2));
    same(nullProto);
    same(Object(5));
    same(Object('boxed'));
    same(Object(false));
    same(new Uint8Array([1, 2, 3]));
    same(Object.assign([1, 2], { extra: 'ignored' }));
  });

  it('writes data nested deeper than its own recursion goes, as JSON.stringify does', () => {
    let deep: unknown = 'bottom';
    for (let i = 0; i < 300; i++) deep = i % 2 ? [deep] : { ['k' + i]: deep };
    same(deep, '300 levels');
  });

  it('throws on a bigint as JSON.stringify does', () => {
    assert.throws(() => JSON.stringify({ n: 1n }), TypeError);
    assert.throws(() => written({ n: 1n }), TypeError);
  });

  it('takes chunks between values, each valid UTF-8, the buffer reused', () => {
    const out = new JsonBytes(8);
    const chunks: Buffer[] = [];
    out.raw('[');
    HOSTILE_STRINGS.forEach((s, i) => {
      out.line(i, 1);
      out.value(s, 1);
      if (out.full) chunks.push(Buffer.from(out.take()));
    });
    out.close(']', HOSTILE_STRINGS.length, 0);
    chunks.push(Buffer.from(out.take()));
    assert.ok(chunks.length > 10);
    for (const c of chunks) assert.deepStrictEqual(Buffer.from(c.toString('utf8'), 'utf8'), c, 'a chunk that is not whole UTF-8');
    assert.strictEqual(Buffer.concat(chunks).toString('utf8'), JSON.stringify(HOSTILE_STRINGS, null, 2));
  });
});
