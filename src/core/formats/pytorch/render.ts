/**
 * Pickle values written back as Python source, for showing what a pickle would call: the
 * callable and its arguments as the pickle holds them (`posix.system('touch /tmp/x')`). Nothing
 * is evaluated. The text is bounded (long strings, big containers and deep nesting are cut with
 * `…`) and escaped: control characters, bidirectional overrides and lone surrogates appear as
 * Python escapes, so a crafted argument cannot rewrite a terminal or a reviewer's screen.
 */
import { PyBytes, PyDict, PyGlobal, PyList, PyNative, PyObject, PySet, PyTuple, PyValue } from './pickle';

/** Longest rendered call, in characters (the `…` included). */
export const MAX_CALL_CHARS = 240;
/** Longest string or bytes literal shown inside a call, in characters of content. */
const MAX_LITERAL = 96;
/** Items of a container shown before `…`. */
const MAX_ITEMS = 6;
/** Nesting shown before `…`. */
const MAX_DEPTH = 6;

// eslint-disable-next-line no-control-regex
const ESCAPE = /[\u0000-\u001f\u007f-\u009f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

function escapeChar(c: string): string {
  switch (c) {
    case '\n':
      return '\\n';
    case '\r':
      return '\\r';
    case '\t':
      return '\\t';
  }
  const code = c.charCodeAt(0);
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
}

/** A Python string literal, as repr() writes it, cut after MAX_LITERAL characters. */
export function pyStringLiteral(s: string, max = MAX_LITERAL): string {
  const cut = s.length > max;
  let body = cut ? s.slice(0, max) : s;
  // Do not end on half a surrogate pair.
  if (cut && /[\ud800-\udbff]$/.test(body)) body = body.slice(0, -1);
  const quote = body.includes("'") && !body.includes('"') ? '"' : "'";
  body = body.replace(/\\/g, '\\\\').replace(ESCAPE, escapeChar);
  if (quote === "'") body = body.replace(/'/g, "\\'");
  return `${quote}${body}${cut ? '…' : ''}${quote}`;
}

function bytesLiteral(b: PyBytes): string {
  const n = Math.min(b.data.length, MAX_LITERAL);
  let out = '';
  for (let i = 0; i < n; i++) {
    const x = b.data[i];
    if (x === 0x5c) out += '\\\\';
    else if (x === 0x27) out += "\\'";
    else if (x === 0x0a) out += '\\n';
    else if (x === 0x0d) out += '\\r';
    else if (x === 0x09) out += '\\t';
    else if (x >= 0x20 && x < 0x7f) out += String.fromCharCode(x);
    else out += `\\x${x.toString(16).padStart(2, '0')}`;
  }
  const lit = `b'${out}${b.data.length > n ? '…' : ''}'`;
  return b.kind === 'bytearray' ? `bytearray(${lit})` : lit;
}

function floatLiteral(x: number): string {
  if (Number.isNaN(x)) return "float('nan')";
  if (!Number.isFinite(x)) return x > 0 ? "float('inf')" : "float('-inf')";
  if (Number.isInteger(x) && Math.abs(x) < 1e16) return String(x);
  return String(x).replace(/e([+-])(\d)$/, 'e$10$2');
}

/** Writes values as Python source within a character budget. */
class Writer {
  private out = '';
  constructor(private readonly budget: number) {}

  get full(): boolean {
    return this.out.length >= this.budget;
  }

  text(s: string): void {
    if (this.full) return;
    this.out += s;
  }

  result(): string {
    if (this.out.length <= this.budget) return this.out;
    return this.out.slice(0, this.budget - 1) + '…';
  }

  value(v: PyValue | undefined, depth: number): void {
    if (this.full) return;
    if (v === undefined) return this.text('?');
    if (v === null) return this.text('None');
    switch (typeof v) {
      case 'boolean':
        return this.text(v ? 'True' : 'False');
      case 'number':
        return this.text(floatLiteral(v));
      case 'bigint':
        return this.text(v.toString());
      case 'string':
        return this.text(pyStringLiteral(v));
    }
    if (v instanceof PyBytes) return this.text(bytesLiteral(v));
    if (v instanceof PyGlobal) return this.text(v.full.replace(ESCAPE, escapeChar));
    if (v instanceof PyNative) return this.text(v.describe().replace(ESCAPE, escapeChar));
    if (depth >= MAX_DEPTH) return this.text('…');
    if (v instanceof PyTuple) {
      this.text('(');
      this.items(v.items, depth);
      return this.text(v.items.length === 1 ? ',)' : ')');
    }
    if (v instanceof PyList) {
      this.text('[');
      this.items(v.items, depth);
      return this.text(']');
    }
    if (v instanceof PySet) {
      if (v.items.length === 0) return this.text(v.frozen ? 'frozenset()' : 'set()');
      this.text(v.frozen ? 'frozenset({' : '{');
      this.items(v.items, depth);
      return this.text(v.frozen ? '})' : '}');
    }
    if (v instanceof PyDict) {
      const named = v.className !== 'dict';
      if (named) this.text(`${v.className}(`);
      this.text('{');
      let i = 0;
      for (const [k, x] of v.entries()) {
        if (this.full) return;
        if (i) this.text(', ');
        if (i === MAX_ITEMS) {
          this.text('…');
          break;
        }
        this.value(k, depth + 1);
        this.text(': ');
        this.value(x, depth + 1);
        i++;
      }
      this.text('}');
      if (named) this.text(')');
      return;
    }
    if (v instanceof PyObject) return this.call(v.callable, v.args, v.via, v.kwargs, depth);
  }

  private items(items: PyValue[], depth: number): void {
    for (let i = 0; i < items.length; i++) {
      if (this.full) return;
      if (i) this.text(', ');
      if (i === MAX_ITEMS) return this.text('…');
      this.value(items[i], depth + 1);
    }
  }

  /** `f(a, b)`, or `C.__new__(C, a)` for NEWOBJ (which runs no __init__). */
  call(callable: PyValue, args: PyValue[], via: PyObject['via'], kwargs: PyValue | undefined, depth: number): void {
    const newobj = via === 'newobj' || via === 'newobj_ex';
    const simple = callable instanceof PyGlobal || callable instanceof PyObject;
    if (!simple) this.text('(');
    this.value(callable, depth + 1);
    if (!simple) this.text(')');
    if (newobj) {
      this.text('.__new__(');
      this.value(callable, depth + 1);
      if (args.length) this.text(', ');
    } else {
      this.text('(');
    }
    this.items(args, depth);
    if (kwargs instanceof PyDict && kwargs.size) {
      let i = 0;
      for (const [k, x] of kwargs.entries()) {
        if (this.full) return;
        if (args.length || i) this.text(', ');
        if (i === MAX_ITEMS) {
          this.text('…');
          break;
        }
        if (typeof k === 'string' && /^[A-Za-z_]\w*$/.test(k)) this.text(`${k}=`);
        else {
          this.text('**{');
          this.value(k, depth + 1);
          this.text(': …}');
          continue;
        }
        this.value(x, depth + 1);
        i++;
      }
    } else if (kwargs !== undefined && !(kwargs instanceof PyDict)) {
      if (args.length) this.text(', ');
      this.text('**');
      this.value(kwargs, depth + 1);
    }
    this.text(')');
  }
}

/** A call as Python source: `callable(args)`, bounded and escaped. */
export function renderCall(callable: PyValue, args: PyValue[], via: PyObject['via'], kwargs?: PyValue, budget = MAX_CALL_CHARS): string {
  const w = new Writer(budget);
  w.call(callable, args, via, kwargs, 0);
  return w.result();
}

/** One value as Python source, bounded and escaped. */
export function renderValue(v: PyValue, budget = MAX_CALL_CHARS): string {
  const w = new Writer(budget);
  w.value(v, 0);
  return w.result();
}
