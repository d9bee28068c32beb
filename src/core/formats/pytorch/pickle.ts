/**
 * A pickle virtual machine that never executes anything. It implements the stack, the memo and
 * every opcode of protocols 0-5, but a GLOBAL only names something: the caller's resolveGlobal
 * hook turns `module.name` into a value (a known, side-effect-free handler such as
 * `collections.OrderedDict`, or an opaque PyGlobal). REDUCE/NEWOBJ/BUILD on anything without a
 * handler build an opaque PyObject that remembers its class, arguments and state as data.
 *
 * Dictionaries are PyDict (Maps), never plain objects keyed by untrusted strings. Nesting depth,
 * object count, memo size and integer sizes are bounded; every failure is a CheckpointError
 * naming the byte offset and opcode.
 */
import { CheckpointError } from '../../errors';
import { u32le } from '../../bytes';

// ---------------------------------------------------------------------------------------------
// Values

/** Base class for values that format code builds from handlers (tensors, storages, dtypes...). */
export abstract class PyNative {
  /** Nesting depth, for the depth bound (0 for leaves). */
  depth = 0;
  abstract describe(): string;
  /** BUILD with this object on top of the stack; absent means BUILD is an error. */
  build?(state: PyValue, site: Site): void;
}

export class PyBytes {
  readonly depth = 0;
  constructor(readonly data: Uint8Array, readonly kind: 'bytes' | 'bytearray' = 'bytes') {}
}

export class PyTuple {
  constructor(readonly items: PyValue[], public depth = 0) {}
}

export class PyList {
  constructor(readonly items: PyValue[] = [], public depth = 0) {}
}

export class PySet {
  constructor(readonly items: PyValue[] = [], readonly frozen = false, public depth = 0) {}
}

/** A Python dict (or OrderedDict): insertion-ordered, keys compared by value for primitives. */
export class PyDict {
  depth = 0;
  /**
   * Key → position; created on first insert (most pickled dicts are empty hook tables). String
   * keys have a map of their own, keyed by the string itself: a prefixed copy ('s' + key) would be
   * a new string to hash on every insert or lookup, so a pickle setting one memoized megabyte-long
   * key over and over cost a megabyte per SETITEM (the string's own hash is computed once).
   */
  private index: Map<unknown, number> | undefined;
  private strings: Map<string, number> | undefined;
  readonly keys: PyValue[] = [];
  readonly values: PyValue[] = [];
  /** Attributes set by BUILD (OrderedDict `_metadata`...). */
  attrs?: PyDict;
  constructor(readonly className: string = 'dict') {}

  get size(): number {
    return this.keys.length;
  }

  set(k: PyValue, v: PyValue): void {
    let i: number | undefined;
    if (typeof k === 'string') {
      this.strings ??= new Map();
      i = this.strings.get(k);
      if (i === undefined) this.strings.set(k, this.keys.length);
    } else {
      const hk = hashKey(k);
      this.index ??= new Map();
      i = this.index.get(hk);
      if (i === undefined) this.index.set(hk, this.keys.length);
    }
    if (i !== undefined) {
      this.values[i] = v;
      return;
    }
    this.keys.push(k);
    this.values.push(v);
  }

  private position(k: PyValue): number | undefined {
    return typeof k === 'string' ? this.strings?.get(k) : this.index?.get(hashKey(k));
  }

  get(k: PyValue): PyValue | undefined {
    const i = this.position(k);
    return i === undefined ? undefined : this.values[i];
  }

  has(k: PyValue): boolean {
    return this.position(k) !== undefined;
  }

  *entries(): IterableIterator<[PyValue, PyValue]> {
    for (let i = 0; i < this.keys.length; i++) yield [this.keys[i], this.values[i]];
  }
}

/** What a GLOBAL names. `call` is set only for known, pure handlers. */
export class PyGlobal {
  readonly depth = 0;
  constructor(
    readonly module: string,
    readonly name: string,
    readonly call?: (args: PyValue[], site: Site, work: Work) => PyValue,
  ) {}
  get full(): string {
    return `${this.module}.${this.name}`;
  }
}

/** An object the reader does not build: its class, constructor arguments and state, as data. */
export class PyObject {
  depth = 0;
  state: PyValue | undefined = undefined;
  /** Items added by SETITEM(S) when the object is a dict subclass. */
  dictItems?: PyDict;
  /** Items added by APPEND(S) when the object is a list subclass. */
  listItems?: PyValue[];
  constructor(
    /** The callable or class: usually a PyGlobal, but may be any value. */
    readonly callable: PyValue,
    readonly args: PyValue[],
    readonly via: 'reduce' | 'newobj' | 'newobj_ex' | 'inst' | 'obj',
    readonly kwargs?: PyValue,
  ) {}
  /** `module.name` of the class when it is a global. */
  get className(): string | undefined {
    return this.callable instanceof PyGlobal ? this.callable.full : undefined;
  }
}

export type PyValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | PyBytes
  | PyTuple
  | PyList
  | PyDict
  | PySet
  | PyGlobal
  | PyObject
  | PyNative;

/** Strings longer than this inside a tuple key make the tuple compare by identity (hashKey). */
const MAX_TUPLE_KEY_STRING = 256;

function hashKey(k: PyValue, budget = { n: 256 }): unknown {
  // Python compares dict keys by value: 1 == 1.0 == True. Strings and numbers get typed keys;
  // small tuples of primitives are compared by value; everything else by identity.
  switch (typeof k) {
    case 'string':
      return 's' + k;
    case 'number':
      return 'n' + String(k);
    case 'boolean':
      return 'n' + (k ? '1' : '0');
    case 'bigint':
      return 'n' + k.toString();
    default:
      break;
  }
  if (k === null) return 'None';
  if (k instanceof PyBytes) return 'b' + Array.from(k.data.subarray(0, 256), (x) => x.toString(16).padStart(2, '0')).join('') + ':' + k.data.length;
  // A budget keeps shared sub-tuples (a DAG) from making this exponential.
  if (k instanceof PyTuple && k.items.length <= 16 && (budget.n -= k.items.length) >= 0) {
    const parts: string[] = [];
    for (const x of k.items) {
      // A long string would be copied into the key each time: such a tuple is compared by identity.
      if (typeof x === 'string' && x.length > MAX_TUPLE_KEY_STRING) return k;
      const h = hashKey(x, budget);
      if (typeof h !== 'string') return k;
      parts.push(h);
    }
    return 't(' + parts.map((p) => p.length + ':' + p).join(',') + ')';
  }
  return k;
}

export function depthOf(v: PyValue): number {
  return v !== null && typeof v === 'object' ? v.depth : 0;
}

// ---------------------------------------------------------------------------------------------
// The machine

/**
 * What a handler tells the machine about work that is not input: items it copies or walks from
 * values the pickle built earlier (dict(d), list(xs), a BUILD merging a state). A memo reference
 * costs a few bytes however big the value is, so a pickle can ask for the same big copy over and
 * over; the machine allows PickleLimits.maxCopies items in all.
 */
export interface Work {
  copy(items: number, what: string): void;
}

/** Where an opcode sits, for messages. */
export interface Site {
  file: string;
  /** Absolute file offset of the opcode. */
  offset: number;
  opcode: string;
}

export interface PickleLimits {
  /** Containers nested deeper than this (and MARKs nested deeper) are refused. */
  maxDepth: number;
  /** Values created (containers, objects, strings) at most. */
  maxObjects: number;
  /** Memo entries at most. */
  maxMemo: number;
  /** Bytes in one integer literal (LONG, LONG1, LONG4) at most. */
  maxIntBytes: number;
  /**
   * Items copied or walked from values already built (Work), at most; by default copyBudget() of
   * the pickle's bytes. A pickle spells out what it holds, so its copies are proportional to it.
   */
  maxCopies?: number;
  /** Characters in a global's module or name at most (each use of a name costs its length). */
  maxNameChars: number;
}

/** Items a pickle of `bytes` bytes may copy from values it built (PickleLimits.maxCopies). */
export function copyBudget(bytes: number): number {
  return 100_000 + bytes;
}

export const DEFAULT_LIMITS: PickleLimits = {
  maxDepth: 1000,
  maxObjects: 50_000_000,
  maxMemo: 10_000_000,
  maxIntBytes: 1024,
  maxNameChars: 512,
};

/** A call the pickle asks for (REDUCE, NEWOBJ, NEWOBJ_EX, INST, OBJ), after its inert result is built. */
export interface CallEvent {
  callable: PyValue;
  args: PyValue[];
  kwargs?: PyValue;
  via: PyObject['via'];
  /** What the machine pushed: a handler's value, or the inert PyObject. */
  result: PyValue;
}

export interface PickleHooks {
  /** Resolve GLOBAL / STACK_GLOBAL / INST. Must not have side effects beyond bookkeeping. */
  resolveGlobal(module: string, name: string, site: Site): PyValue;
  /** PERSID / BINPERSID. Without it, a persistent id is an error. */
  persistentLoad?(pid: PyValue, site: Site): PyValue;
  /** Observes every call the pickle asks for. Bookkeeping only: it changes nothing. */
  onCall?(call: CallEvent): void;
  /** Observes BUILD on an inert object (a real unpickler would call its __setstate__, if any). */
  onBuild?(inst: PyObject, state: PyValue): void;
  /**
   * BUILD, SETITEM(S) or APPEND(S) on a global (a module, class or function): a real unpickler
   * would set its attributes. With this hook the machine records it and goes on (nothing is
   * changed); without it, that is an error.
   */
  onGlobalMutation?(target: PyGlobal, op: 'build' | 'setitems' | 'append', payload: PyValue[], site: Site): void;
}

export interface UnpickleOptions {
  file: string;
  /** Absolute file offset of buf[0]. */
  base?: number;
  /** Where to start in buf. */
  start?: number;
  hooks: PickleHooks;
  limits?: Partial<PickleLimits>;
  /** Text encoding for protocol 0-2 8-bit strings (STRING, BINSTRING); Python 3's default decodes as ASCII. */
  stringEncoding?: 'utf-8' | 'latin1';
  /**
   * Bytes that exist from buf[0] on, when buf holds only the first part of a longer stream (the
   * legacy format's pickles are read from the file as far as needed). A read that fits within
   * them but not within buf throws PickleNeedsMore; one that runs past them is truncated.
   */
  available?: number;
}

/**
 * The pickle runs past the bytes in memory but not past the stream: load at least `needEnd`
 * bytes (from buf[0]) and run it again. Only thrown when UnpickleOptions.available says more
 * bytes exist; a length claimed past the end of the stream is a plain 'truncated' error.
 */
export class PickleNeedsMore extends CheckpointError {
  constructor(
    /** Index in buf (exclusive) that the failing read reaches. */
    readonly needEnd: number,
    detail: string,
    where: { file: string; offset: number; record: string },
  ) {
    super('truncated', detail, where);
  }
}

/**
 * A global's module or name is longer than PickleLimits.maxNameChars. It keeps the first
 * characters of both, so a scan can tell a pickle naming absurd globals from bytes that are none.
 */
export class PickleNameTooLong extends CheckpointError {
  constructor(
    /** The first 64 characters of the module and of the name. */
    readonly globalModule: string,
    readonly globalName: string,
    detail: string,
    where: { file: string; offset: number; record: string },
  ) {
    super('limit', detail, where);
  }
}

export interface UnpickleResult {
  value: PyValue;
  /** Index in buf just past STOP. */
  end: number;
  /** Highest protocol seen in a PROTO opcode (0 if none). */
  protocol: number;
}

const OPNAMES = {
  0x28: 'MARK', 0x2e: 'STOP', 0x30: 'POP', 0x31: 'POP_MARK', 0x32: 'DUP', 0x46: 'FLOAT', 0x49: 'INT',
  0x4a: 'BININT', 0x4b: 'BININT1', 0x4c: 'LONG', 0x4d: 'BININT2', 0x4e: 'NONE', 0x50: 'PERSID',
  0x51: 'BINPERSID', 0x52: 'REDUCE', 0x53: 'STRING', 0x54: 'BINSTRING', 0x55: 'SHORT_BINSTRING',
  0x56: 'UNICODE', 0x58: 'BINUNICODE', 0x61: 'APPEND', 0x62: 'BUILD', 0x63: 'GLOBAL', 0x64: 'DICT',
  0x7d: 'EMPTY_DICT', 0x65: 'APPENDS', 0x67: 'GET', 0x68: 'BINGET', 0x69: 'INST', 0x6a: 'LONG_BINGET',
  0x6c: 'LIST', 0x5d: 'EMPTY_LIST', 0x6f: 'OBJ', 0x70: 'PUT', 0x71: 'BINPUT', 0x72: 'LONG_BINPUT',
  0x73: 'SETITEM', 0x74: 'TUPLE', 0x29: 'EMPTY_TUPLE', 0x75: 'SETITEMS', 0x47: 'BINFLOAT',
  0x80: 'PROTO', 0x81: 'NEWOBJ', 0x82: 'EXT1', 0x83: 'EXT2', 0x84: 'EXT4', 0x85: 'TUPLE1', 0x86: 'TUPLE2',
  0x87: 'TUPLE3', 0x88: 'NEWTRUE', 0x89: 'NEWFALSE', 0x8a: 'LONG1', 0x8b: 'LONG4', 0x42: 'BINBYTES',
  0x43: 'SHORT_BINBYTES', 0x8c: 'SHORT_BINUNICODE', 0x8d: 'BINUNICODE8', 0x8e: 'BINBYTES8',
  0x8f: 'EMPTY_SET', 0x90: 'ADDITEMS', 0x91: 'FROZENSET', 0x92: 'NEWOBJ_EX', 0x93: 'STACK_GLOBAL',
  0x94: 'MEMOIZE', 0x95: 'FRAME', 0x96: 'BYTEARRAY8', 0x97: 'NEXT_BUFFER', 0x98: 'READONLY_BUFFER',
} as const;

type OpcodeName = (typeof OPNAMES)[keyof typeof OPNAMES];
/** What an opcode does to the machine: the result at STOP, else nothing. */
type OpcodeMethod = (this: Machine) => UnpickleResult | void;

export function opcodeName(op: number): string {
  return (OPNAMES as Record<number, string>)[op] ?? `0x${op.toString(16).padStart(2, '0')}`;
}

type StackItem = PyValue;

const utf8 = new TextDecoder('utf-8', { fatal: true });
const latin1 = new TextDecoder('latin1');

/** Run one pickle from `start` to its STOP. */
export function unpickle(buf: Uint8Array, opts: UnpickleOptions): UnpickleResult {
  return new Machine(buf, opts).run();
}

class Machine implements Record<OpcodeName, OpcodeMethod>, Work {
  private pos: number;
  private opStart = 0;
  private op = 0;
  private stack: StackItem[] = [];
  private readonly metastack: StackItem[][] = [];
  private readonly memo = new Map<number, PyValue>();
  private objects = 0;
  private copies = 0;
  private readonly maxCopies: number;
  private protocol = 0;
  private readonly limits: PickleLimits;
  private readonly file: string;
  private readonly base: number;
  private readonly view: DataView;

  constructor(private readonly buf: Uint8Array, private readonly opts: UnpickleOptions) {
    this.pos = opts.start ?? 0;
    this.file = opts.file;
    this.base = opts.base ?? 0;
    this.limits = { ...DEFAULT_LIMITS, ...(opts.limits ?? {}) };
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    this.maxCopies = this.limits.maxCopies ?? copyBudget(this.end - this.pos);
  }

  copy(items: number, what: string): void {
    this.copies += items;
    if (this.copies > this.maxCopies) {
      this.fail(`copies more than ${this.maxCopies} items of values it built before (${what}): a pickle that copies its own memoized values over and over`, 'limit');
    }
  }

  private site(): Site {
    return { file: this.file, offset: this.base + this.opStart, opcode: opcodeName(this.op) };
  }

  private fail(detail: string, code: 'bad-pickle' | 'limit' | 'unsupported' | 'truncated' = 'bad-pickle'): never {
    throw new CheckpointError(code, detail, { file: this.file, offset: this.base + this.opStart, record: `pickle opcode ${opcodeName(this.op)}` });
  }

  /** Bytes of the stream from buf[0], loaded or not. */
  private get end(): number {
    return Math.max(this.buf.length, this.opts.available ?? 0);
  }

  private need(n: number, what: string): void {
    if (n < 0 || this.pos + n > this.buf.length) {
      const end = this.end;
      if (n >= 0 && this.pos + n <= end) this.more(this.pos + n, `${what} needs ${n} bytes`);
      // A claimed length past the end of the stream: fail now, never load it.
      const where = end > this.buf.length ? 'file' : 'pickle data';
      this.fail(`${what} needs ${n} bytes but the ${where} ends ${end - this.pos} bytes later`, 'truncated');
    }
  }

  /** The stream holds more bytes than buf: ask for them (only when it does). */
  private more(needEnd: number, detail: string): void {
    if (needEnd > this.buf.length && this.buf.length < this.end) {
      throw new PickleNeedsMore(Math.min(needEnd, this.end), detail, { file: this.file, offset: this.base + this.opStart, record: `pickle opcode ${opcodeName(this.op)}` });
    }
  }

  // Operand reads are written out by hand: they run once per opcode, often before the JIT warms up.
  private u8(): number {
    if (this.pos >= this.buf.length) this.need(1, 'operand');
    return this.buf[this.pos++];
  }
  private u16(): number {
    const p = this.pos;
    if (p + 2 > this.buf.length) this.need(2, 'operand');
    this.pos = p + 2;
    return this.buf[p] | (this.buf[p + 1] << 8);
  }
  private u32(): number {
    const p = this.pos;
    const b = this.buf;
    if (p + 4 > b.length) this.need(4, 'operand');
    this.pos = p + 4;
    return u32le(b, p);
  }
  private i32(): number {
    this.need(4, 'operand');
    const v = this.view.getInt32(this.pos, true);
    this.pos += 4;
    return v;
  }
  private u64(): number {
    this.need(8, 'operand');
    const v = this.view.getBigUint64(this.pos, true);
    if (v > BigInt(this.end)) this.fail(`length ${v} is larger than the ${this.end > this.buf.length ? 'file' : 'pickle data'}`, 'truncated');
    this.pos += 8;
    return Number(v);
  }
  private take(n: number, what: string): Uint8Array {
    this.need(n, what);
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }
  /** A protocol-0 text line, without its newline. */
  private line(what: string): Uint8Array {
    const nl = this.buf.indexOf(0x0a, this.pos);
    if (nl < 0) {
      this.more(this.buf.length + 1, `${what} has no newline in the bytes read so far`);
      this.fail(`${what} has no terminating newline`, 'truncated');
    }
    const b = this.buf.subarray(this.pos, nl);
    this.pos = nl + 1;
    return b;
  }
  private ascii(b: Uint8Array): string {
    return latin1.decode(b);
  }
  private utf8(b: Uint8Array, what: string): string {
    try {
      return utf8.decode(b);
    } catch {
      return this.fail(`${what} is not valid UTF-8`);
    }
  }

  private count(n = 1): void {
    this.objects += n;
    if (this.objects > this.limits.maxObjects) this.fail(`more than ${this.limits.maxObjects} objects`, 'limit');
  }

  private checkDepth(d: number): number {
    if (d > this.limits.maxDepth) this.fail(`objects nested deeper than ${this.limits.maxDepth} levels`, 'limit');
    return d;
  }

  private push(v: StackItem): void {
    this.stack.push(v);
  }

  private pop(): PyValue {
    if (this.stack.length === 0) this.fail('stack underflow');
    const v = this.stack.pop()!;
    return v;
  }

  private top(): PyValue {
    if (this.stack.length === 0) this.fail('stack underflow');
    return this.stack[this.stack.length - 1];
  }

  private popMark(): PyValue[] {
    if (this.metastack.length === 0) this.fail('no MARK on the stack');
    const items = this.stack;
    this.stack = this.metastack.pop()!;
    return items;
  }

  private maxDepth(items: PyValue[]): number {
    let d = 0;
    for (const x of items) {
      const e = depthOf(x);
      if (e > d) d = e;
    }
    return d;
  }

  /** Depth of a container holding `items`: 0 when empty, else one more than its deepest item. */
  private nest(items: PyValue[]): number {
    return items.length ? this.checkDepth(this.maxDepth(items) + 1) : 0;
  }

  private tuple(items: PyValue[]): PyTuple {
    this.count();
    return new PyTuple(items, this.nest(items));
  }

  private memoPut(idx: number, v: PyValue): void {
    if (this.memo.size >= this.limits.maxMemo && !this.memo.has(idx)) this.fail(`more than ${this.limits.maxMemo} memo entries`, 'limit');
    this.memo.set(idx, v);
  }

  private memoGet(idx: number): PyValue {
    const v = this.memo.get(idx);
    if (v === undefined) this.fail(`memo key ${idx} was never stored`);
    return v;
  }

  private grow(container: { depth: number }, child: PyValue): void {
    const d = depthOf(child) + 1;
    if (d > container.depth) container.depth = this.checkDepth(d);
  }

  private global(module: string, name: string): PyValue {
    if (module.length === 0 || name.length === 0) this.fail('empty module or name in a global');
    const max = this.limits.maxNameChars;
    if (module.length > max || name.length > max) {
      const long = module.length > max ? module : name;
      throw new PickleNameTooLong(
        module.slice(0, 64),
        name.slice(0, 64),
        `global ${long === module ? 'module' : 'name'} of ${long.length} characters ("${long.slice(0, 40)}…") exceeds the ${max}-character limit`,
        { file: this.file, offset: this.base + this.opStart, record: `pickle opcode ${opcodeName(this.op)}` },
      );
    }
    return this.opts.hooks.resolveGlobal(module, name, this.site());
  }

  /** `argsDepth`: depth of the tuple (or list) holding `args` (its items are not scanned again: it may be a memoized value). */
  private call(callable: PyValue, args: PyValue[], argsDepth: number, via: PyObject['via'], kwargs?: PyValue): PyValue {
    const r = this.build1(callable, args, argsDepth, via, kwargs);
    const hook = this.opts.hooks.onCall;
    if (hook) hook({ callable, args, kwargs, via, result: r });
    return r;
  }

  private build1(callable: PyValue, args: PyValue[], argsDepth: number, via: PyObject['via'], kwargs?: PyValue): PyValue {
    this.count();
    // The deepest argument's depth, from the depth of their container (one more, when it holds any).
    const inner = args.length ? argsDepth - 1 : 0;
    if (callable instanceof PyGlobal && callable.call && kwargs === undefined) {
      const r = callable.call(args, this.site(), this);
      if (r !== null && typeof r === 'object' && !(r instanceof PyGlobal) && !(r instanceof PyBytes)) {
        const d = inner + 1;
        if (d > r.depth) r.depth = this.checkDepth(d);
      }
      return r;
    }
    const o = new PyObject(callable, args, via, kwargs);
    o.depth = this.checkDepth(Math.max(inner, depthOf(kwargs ?? null)) + 1);
    return o;
  }

  /** A mutation of a global: recorded by the hook (nothing changes), or an error without one. */
  private mutateGlobal(target: PyGlobal, op: 'build' | 'setitems' | 'append', payload: PyValue[], what: string): void {
    const hook = this.opts.hooks.onGlobalMutation;
    if (!hook) this.fail(what);
    if (op === 'build') {
      // The hook records each attribute a BUILD state sets: as many as its dicts hold.
      const state = payload[0];
      const parts = state instanceof PyTuple && state.items.length === 2 ? state.items : [state];
      for (const d of parts) if (d instanceof PyDict) this.copy(d.size, `BUILD on ${describeValue(target)}`);
    }
    hook(target, op, payload, this.site());
  }

  private argsOf(v: PyValue, what: string): PyValue[] {
    if (v instanceof PyTuple) return v.items;
    if (v instanceof PyList) return v.items;
    return this.fail(`${what} arguments are not a tuple`);
  }

  private int(v: bigint): number | bigint {
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  }

  private decodeLong(b: Uint8Array): number | bigint {
    if (b.length === 0) return 0;
    if (b.length > this.limits.maxIntBytes) this.fail(`integer of ${b.length} bytes exceeds the ${this.limits.maxIntBytes}-byte limit`, 'limit');
    let v = 0n;
    for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
    if (b[b.length - 1] & 0x80) v -= 1n << BigInt(8 * b.length);
    return this.int(v);
  }

  private parseIntText(s: string, what: string): number | bigint {
    const t = s.trim().replace(/L$/, '');
    if (t.length > this.limits.maxIntBytes * 3) this.fail(`integer of ${t.length} digits exceeds the limit`, 'limit');
    if (!/^[+-]?\d+$/.test(t)) this.fail(`${what} "${t.slice(0, 40)}" is not an integer`);
    return this.int(BigInt(t));
  }

  private str8(b: Uint8Array): string {
    if (this.opts.stringEncoding === 'latin1') return latin1.decode(b);
    try {
      return utf8.decode(b);
    } catch {
      return latin1.decode(b);
    }
  }

  run(): UnpickleResult {
    const buf = this.buf;
    for (;;) {
      this.opStart = this.pos;
      if (this.pos >= buf.length) {
        this.op = 0x2e;
        this.more(buf.length + 1, 'pickle continues past the bytes read so far');
        this.fail('pickle data ends before STOP', 'truncated');
      }
      const op = (this.op = buf[this.pos++]);
      const method = OPCODES[op];
      if (method === undefined) this.fail(`unknown pickle opcode 0x${op.toString(16).padStart(2, '0')}`);
      const done = method.call(this);
      if (done !== undefined) return done;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // The opcodes: one method each, named as pickletools names them (OPCODES maps the bytes).

  PROTO(): void {
    const p = this.u8();
    if (p > 5) this.fail(`unsupported pickle protocol ${p}`, 'unsupported');
    if (p > this.protocol) this.protocol = p;
  }

  /** The whole pickle is in memory, so frames are just a length to skip. */
  FRAME(): void {
    this.need(8, 'FRAME length');
    this.pos += 8;
  }

  STOP(): UnpickleResult {
    const v = this.pop();
    return { value: v, end: this.pos, protocol: this.protocol };
  }

  // Stack and memo
  MARK(): void {
    if (this.metastack.length >= this.limits.maxDepth) this.fail(`MARKs nested deeper than ${this.limits.maxDepth} levels`, 'limit');
    this.metastack.push(this.stack);
    this.stack = [];
  }

  POP(): void {
    if (this.stack.length) this.stack.pop();
    else this.popMark();
  }

  POP_MARK(): void {
    this.popMark();
  }

  DUP(): void {
    this.push(this.top());
  }

  GET(): void {
    this.push(this.memoGet(Number(this.parseIntText(this.ascii(this.line('GET')), 'memo key'))));
  }

  BINGET(): void {
    this.push(this.memoGet(this.u8()));
  }

  LONG_BINGET(): void {
    this.push(this.memoGet(this.u32()));
  }

  PUT(): void {
    const idx = this.parseIntText(this.ascii(this.line('PUT')), 'memo key');
    if (typeof idx !== 'number' || idx < 0) this.fail('negative or huge memo key');
    this.memoPut(idx, this.top());
  }

  BINPUT(): void {
    this.memoPut(this.u8(), this.top());
  }

  LONG_BINPUT(): void {
    this.memoPut(this.u32(), this.top());
  }

  MEMOIZE(): void {
    this.memoPut(this.memo.size, this.top());
  }

  // Constants and numbers
  NONE(): void {
    this.push(null);
  }

  NEWTRUE(): void {
    this.push(true);
  }

  NEWFALSE(): void {
    this.push(false);
  }

  /** Protocol 0; "01"/"00" are True/False. */
  INT(): void {
    const s = this.ascii(this.line('INT'));
    if (s === '01') this.push(true);
    else if (s === '00') this.push(false);
    else this.push(this.parseIntText(s, 'INT'));
  }

  LONG(): void {
    this.push(this.parseIntText(this.ascii(this.line('LONG')), 'LONG'));
  }

  BININT(): void {
    this.push(this.i32());
  }

  BININT1(): void {
    this.push(this.u8());
  }

  BININT2(): void {
    this.push(this.u16());
  }

  LONG1(): void {
    const n = this.u8();
    this.push(this.decodeLong(this.take(n, 'LONG1')));
  }

  LONG4(): void {
    const n = this.i32();
    if (n < 0) this.fail('negative LONG4 length');
    if (n > this.limits.maxIntBytes) this.fail(`integer of ${n} bytes exceeds the ${this.limits.maxIntBytes}-byte limit`, 'limit');
    this.push(this.decodeLong(this.take(n, 'LONG4')));
  }

  FLOAT(): void {
    const s = this.ascii(this.line('FLOAT')).trim();
    const v = Number(s === 'nan' ? NaN : s === 'inf' ? Infinity : s === '-inf' ? -Infinity : s);
    if (Number.isNaN(v) && s !== 'nan') this.fail(`FLOAT "${s.slice(0, 40)}" is not a number`);
    this.push(v);
  }

  /** Big-endian. */
  BINFLOAT(): void {
    this.need(8, 'BINFLOAT');
    this.push(this.view.getFloat64(this.pos, false));
    this.pos += 8;
  }

  // Strings and bytes
  BINUNICODE(): void {
    const n = this.u32();
    this.count();
    this.push(this.utf8(this.take(n, 'BINUNICODE'), 'BINUNICODE'));
  }

  SHORT_BINUNICODE(): void {
    const n = this.u8();
    this.count();
    this.push(this.utf8(this.take(n, 'SHORT_BINUNICODE'), 'SHORT_BINUNICODE'));
  }

  BINUNICODE8(): void {
    const n = this.u64();
    this.count();
    this.push(this.utf8(this.take(n, 'BINUNICODE8'), 'BINUNICODE8'));
  }

  /** Raw-unicode-escape. */
  UNICODE(): void {
    this.count();
    this.push(rawUnicodeEscape(this.line('UNICODE')));
  }

  /** A quoted Python 2 str literal. */
  STRING(): void {
    const raw = this.line('STRING');
    this.count();
    this.push(this.str8(this.unquote(raw)));
  }

  BINSTRING(): void {
    const n = this.i32();
    if (n < 0) this.fail('negative BINSTRING length');
    this.count();
    this.push(this.str8(this.take(n, 'BINSTRING')));
  }

  SHORT_BINSTRING(): void {
    const n = this.u8();
    this.count();
    this.push(this.str8(this.take(n, 'SHORT_BINSTRING')));
  }

  BINBYTES(): void {
    const n = this.u32();
    this.count();
    this.push(new PyBytes(this.take(n, 'BINBYTES')));
  }

  SHORT_BINBYTES(): void {
    const n = this.u8();
    this.count();
    this.push(new PyBytes(this.take(n, 'SHORT_BINBYTES')));
  }

  BINBYTES8(): void {
    const n = this.u64();
    this.count();
    this.push(new PyBytes(this.take(n, 'BINBYTES8')));
  }

  BYTEARRAY8(): void {
    const n = this.u64();
    this.count();
    this.push(new PyBytes(this.take(n, 'BYTEARRAY8'), 'bytearray'));
  }

  NEXT_BUFFER(): void {
    this.outOfBandBuffer();
  }

  READONLY_BUFFER(): void {
    this.outOfBandBuffer();
  }

  // Containers
  EMPTY_TUPLE(): void {
    this.push(this.tuple([]));
  }

  TUPLE1(): void {
    this.push(this.tuple([this.pop()]));
  }

  TUPLE2(): void {
    const b = this.pop();
    const a = this.pop();
    this.push(this.tuple([a, b]));
  }

  TUPLE3(): void {
    const c = this.pop();
    const b = this.pop();
    const a = this.pop();
    this.push(this.tuple([a, b, c]));
  }

  TUPLE(): void {
    this.push(this.tuple(this.popMark()));
  }

  EMPTY_LIST(): void {
    this.count();
    this.push(new PyList());
  }

  LIST(): void {
    const items = this.popMark();
    this.count();
    this.push(new PyList(items, this.nest(items)));
  }

  EMPTY_DICT(): void {
    this.count();
    this.push(new PyDict());
  }

  DICT(): void {
    const items = this.popMark();
    if (items.length % 2) this.fail('DICT with an odd number of items');
    const d = new PyDict();
    this.count();
    this.setItems(d, items);
    this.push(d);
  }

  EMPTY_SET(): void {
    this.count();
    this.push(new PySet());
  }

  FROZENSET(): void {
    const items = this.popMark();
    this.count();
    this.push(new PySet(items, true, this.nest(items)));
  }

  APPEND(): void {
    const v = this.pop();
    this.append(this.top(), [v]);
  }

  APPENDS(): void {
    const items = this.popMark();
    this.append(this.top(), items);
  }

  SETITEM(): void {
    const v = this.pop();
    const k = this.pop();
    this.setItems(this.top(), [k, v]);
  }

  SETITEMS(): void {
    const items = this.popMark();
    if (items.length % 2) this.fail('SETITEMS with an odd number of items');
    this.setItems(this.top(), items);
  }

  ADDITEMS(): void {
    const items = this.popMark();
    const s = this.top();
    if (!(s instanceof PySet) || s.frozen) this.fail('ADDITEMS on something that is not a set');
    for (const x of items) {
      s.items.push(x);
      this.grow(s, x);
    }
  }

  // Globals and objects: nothing is ever called
  GLOBAL(): void {
    const module = this.utf8(this.line('GLOBAL module'), 'GLOBAL module');
    const name = this.utf8(this.line('GLOBAL name'), 'GLOBAL name');
    this.push(this.global(module, name));
  }

  STACK_GLOBAL(): void {
    const name = this.pop();
    const module = this.pop();
    if (typeof module !== 'string' || typeof name !== 'string') this.fail('STACK_GLOBAL operands are not strings');
    this.push(this.global(module, name));
  }

  EXT1(): void {
    this.extension(this.u8());
  }

  EXT2(): void {
    this.extension(this.u16());
  }

  EXT4(): void {
    this.extension(this.i32());
  }

  REDUCE(): void {
    const args = this.pop();
    const callable = this.pop();
    this.push(this.call(callable, this.argsOf(args, 'REDUCE'), depthOf(args), 'reduce'));
  }

  NEWOBJ(): void {
    const args = this.pop();
    const cls = this.pop();
    this.push(this.call(cls, this.argsOf(args, 'NEWOBJ'), depthOf(args), 'newobj'));
  }

  NEWOBJ_EX(): void {
    const kwargs = this.pop();
    const args = this.pop();
    const cls = this.pop();
    const kw = kwargs instanceof PyDict && kwargs.size === 0 ? undefined : kwargs;
    this.push(this.call(cls, this.argsOf(args, 'NEWOBJ_EX'), depthOf(args), 'newobj_ex', kw));
  }

  INST(): void {
    const module = this.utf8(this.line('INST module'), 'INST module');
    const name = this.utf8(this.line('INST name'), 'INST name');
    const args = this.popMark();
    this.push(this.call(this.global(module, name), args, this.nest(args), 'inst'));
  }

  OBJ(): void {
    const items = this.popMark();
    if (items.length === 0) this.fail('OBJ without a class');
    const args = items.slice(1);
    this.push(this.call(items[0], args, this.nest(args), 'obj'));
  }

  BUILD(): void {
    const state = this.pop();
    this.build(this.top(), state);
  }

  PERSID(): void {
    const pid = this.ascii(this.line('PERSID'));
    this.push(this.persistent(pid));
  }

  BINPERSID(): void {
    this.push(this.persistent(this.pop()));
  }

  private outOfBandBuffer(): never {
    return this.fail('out-of-band pickle buffers (protocol 5) are not supported', 'unsupported');
  }

  private extension(code: number): never {
    return this.fail(`copyreg extension code ${code} cannot be resolved without executing the registry`, 'unsupported');
  }


  private persistent(pid: PyValue): PyValue {
    const load = this.opts.hooks.persistentLoad;
    if (!load) this.fail('persistent id in a pickle that should have none');
    this.count();
    return load(pid, this.site());
  }

  private append(target: PyValue, items: PyValue[]): void {
    if (target instanceof PyGlobal) return this.mutateGlobal(target, 'append', items, `cannot append to ${describeValue(target)}`);
    if (target instanceof PyList) {
      for (const x of items) {
        target.items.push(x);
        this.grow(target, x);
      }
      return;
    }
    if (target instanceof PyObject) {
      // A list subclass (or something with an `extend`): keep the items as data.
      target.listItems ??= [];
      for (const x of items) {
        target.listItems.push(x);
        this.grow(target, x);
      }
      return;
    }
    if (target instanceof PySet && !target.frozen) {
      for (const x of items) {
        target.items.push(x);
        this.grow(target, x);
      }
      return;
    }
    this.fail(`cannot append to ${describeValue(target)}`);
  }

  private setItems(target: PyValue, items: PyValue[]): void {
    let d: PyDict;
    if (target instanceof PyGlobal) return this.mutateGlobal(target, 'setitems', items, `cannot set items on ${describeValue(target)}`);
    if (target instanceof PyDict) d = target;
    else if (target instanceof PyObject) d = target.dictItems ??= new PyDict();
    else return this.fail(`cannot set items on ${describeValue(target)}`);
    for (let i = 0; i < items.length; i += 2) {
      d.set(items[i], items[i + 1]);
      this.grow(d, items[i]);
      this.grow(d, items[i + 1]);
      if (d !== target) this.grow(target as PyObject, d);
    }
  }

  private build(inst: PyValue, state: PyValue): void {
    if (inst instanceof PyGlobal) return this.mutateGlobal(inst, 'build', [state], `BUILD on ${describeValue(inst)}`);
    if (inst instanceof PyObject) {
      this.opts.hooks.onBuild?.(inst, state);
      if (inst.state instanceof PyDict && state instanceof PyDict) {
        this.copy(state.size, 'BUILD merging a state into an object that has one');
        for (const [k, v] of state.entries()) inst.state.set(k, v);
      } else {
        inst.state = state;
      }
      this.grow(inst, state);
      return;
    }
    if (inst instanceof PyDict) {
      // OrderedDict's BUILD sets instance attributes (`_metadata` of a state_dict).
      if (state instanceof PyDict) {
        inst.attrs ??= new PyDict();
        this.copy(state.size, 'BUILD setting attributes of a dict');
        for (const [k, v] of state.entries()) inst.attrs.set(k, v);
        this.grow(inst, state);
      } else if (state !== null) {
        this.fail('BUILD on a dict with a state that is not a dict');
      }
      return;
    }
    if (inst instanceof PyNative && inst.build) {
      inst.build(state, this.site());
      this.grow(inst, state);
      return;
    }
    if (inst instanceof PyList || inst instanceof PySet || inst instanceof PyTuple) {
      // Some classes reduce to a list with state; keep going without executing anything.
      return;
    }
    this.fail(`BUILD on ${describeValue(inst)}`);
  }

  private unquote(raw: Uint8Array): Uint8Array {
    let s = this.ascii(raw);
    if (s.length < 2 || (s[0] !== "'" && s[0] !== '"') || s[s.length - 1] !== s[0]) this.fail('STRING argument is not quoted');
    s = s.slice(1, -1);
    const out: number[] = [];
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c !== 0x5c) {
        out.push(c & 0xff);
        continue;
      }
      const e = s[++i];
      switch (e) {
        case 'n': out.push(10); break;
        case 't': out.push(9); break;
        case 'r': out.push(13); break;
        case 'a': out.push(7); break;
        case 'b': out.push(8); break;
        case 'f': out.push(12); break;
        case 'v': out.push(11); break;
        case '\\': out.push(0x5c); break;
        case "'": out.push(0x27); break;
        case '"': out.push(0x22); break;
        case '\n': break;
        case 'x': {
          const h = s.slice(i + 1, i + 3);
          if (!/^[0-9a-fA-F]{2}$/.test(h)) this.fail('invalid \\x escape in STRING');
          out.push(parseInt(h, 16));
          i += 2;
          break;
        }
        default:
          if (e !== undefined && e >= '0' && e <= '7') {
            let j = i;
            while (j < s.length && j < i + 3 && s[j] >= '0' && s[j] <= '7') j++;
            out.push(parseInt(s.slice(i, j), 8) & 0xff);
            i = j - 1;
          } else {
            out.push(0x5c);
            if (e !== undefined) out.push(e.charCodeAt(0) & 0xff);
          }
      }
    }
    return Uint8Array.from(out);
  }
}

/**
 * The opcode methods by byte. run() calls one per opcode (issue 11): as one switch over every
 * opcode, run() was a ~700-line function that TurboFan compiled on stack (OSR) for ~50 ms of CPU
 * on a background thread while reading GPT-2's 6,000-opcode pickle, most of it after the pickle
 * was read; now it compiles only the few small methods that run often.
 */
const OPCODES: readonly (OpcodeMethod | undefined)[] = Array.from({ length: 256 }, (_, code) => {
  const name = (OPNAMES as Record<number, OpcodeName | undefined>)[code];
  return name === undefined ? undefined : Machine.prototype[name];
});

function rawUnicodeEscape(b: Uint8Array): string {
  let out = '';
  for (let i = 0; i < b.length; i++) {
    if (b[i] === 0x5c && i + 1 < b.length && (b[i + 1] === 0x75 || b[i + 1] === 0x55)) {
      const n = b[i + 1] === 0x75 ? 4 : 8;
      const hex = latin1.decode(b.subarray(i + 2, i + 2 + n));
      if (hex.length === n && /^[0-9a-fA-F]+$/.test(hex)) {
        const cp = parseInt(hex, 16);
        if (cp <= 0x10ffff) {
          out += String.fromCodePoint(cp);
          i += 1 + n;
          continue;
        }
      }
    }
    out += String.fromCharCode(b[i]);
  }
  return out;
}

/** A short description of a value for messages. */
export function describeValue(v: PyValue | undefined): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'None';
  switch (typeof v) {
    case 'boolean':
      return v ? 'True' : 'False';
    case 'number':
      // A pickle's floats and small ints are both numbers here; a whole one reads as an int.
      return Number.isInteger(v) ? `int ${v}` : `float ${v}`;
    case 'bigint': {
      const digits = String(v);
      return digits.length > 24 ? `int of ${digits.replace('-', '').length} digits (${digits.slice(0, 12)}…)` : `int ${digits}`;
    }
    case 'string':
      return `str "${v.length > 40 ? v.slice(0, 40) + '…' : v}"`;
  }
  if (v instanceof PyBytes) return `${v.kind} of ${v.data.length} bytes`;
  if (v instanceof PyTuple) return `tuple of ${v.items.length}`;
  if (v instanceof PyList) return `list of ${v.items.length}`;
  if (v instanceof PySet) return `${v.frozen ? 'frozenset' : 'set'} of ${v.items.length}`;
  if (v instanceof PyDict) return `${v.className} of ${v.size}`;
  if (v instanceof PyGlobal) return `global ${v.full}`;
  if (v instanceof PyObject) return `${v.className ?? 'object'} instance`;
  return v.describe();
}
