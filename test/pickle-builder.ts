/**
 * Pickles for tests, written opcode by opcode (no Python needed):
 * - `ops(...)`: an explicit opcode list, named as fickling's tests name them (Proto, Frame,
 *   ShortBinUnicode, StackGlobal, Reduce...), for crafted and malformed pickles;
 * - `dumps(value, protocol)`: what CPython's pickle.dumps writes for plain values, globals and
 *   `__reduce__` calls, in protocols 0 to 5 (GLOBAL vs STACK_GLOBAL, MARK/TUPLE vs TUPLE1-3,
 *   bytes as `_codecs.encode` below protocol 3, `__builtin__` names below protocol 3, memo
 *   PUT/BINPUT/MEMOIZE, FRAME from protocol 4).
 */
import * as zlib from 'zlib';

// ---------------------------------------------------------------------------------------------
// Opcodes

export type Op = Uint8Array;

const enc = new TextEncoder();

function u8(...b: number[]): Op {
  return Uint8Array.from(b);
}
function le(n: number, bytes: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < bytes; i++) out.push(Math.floor(n / 2 ** (8 * i)) & 0xff);
  return out;
}
function cat(parts: Op[]): Uint8Array {
  const n = parts.reduce((s, p) => s + p.length, 0);
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
const line = (s: string): number[] => [...enc.encode(s), 0x0a];

/** raw-unicode-escape, as protocol 0's UNICODE writes it. */
function rawUnicodeEscape(s: string): number[] {
  const out: number[] = [];
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    if (cp === 0x5c || cp === 0x0a || cp === 0x0d || cp === 0x00 || cp === 0x1a) out.push(...enc.encode(`\\u${cp.toString(16).padStart(4, '0')}`));
    else if (cp < 0x100) out.push(cp);
    else if (cp < 0x10000) out.push(...enc.encode(`\\u${cp.toString(16).padStart(4, '0')}`));
    else out.push(...enc.encode(`\\U${cp.toString(16).padStart(8, '0')}`));
  }
  return out;
}

/** Opcodes by the names fickling's tests use. */
export const op = {
  Proto: (n: number) => u8(0x80, n),
  Frame: (n: number) => u8(0x95, ...le(n, 8)),
  Stop: () => u8(0x2e),
  Mark: () => u8(0x28),
  Pop: () => u8(0x30),
  PopMark: () => u8(0x31),
  Dup: () => u8(0x32),
  NoneOpcode: () => u8(0x4e),
  NewTrue: () => u8(0x88),
  NewFalse: () => u8(0x89),
  Int: (n: number) => u8(0x49, ...line(String(n))),
  BinInt: (n: number) => u8(0x4a, ...le(n >>> 0, 4)),
  BinInt1: (n: number) => u8(0x4b, n),
  BinInt2: (n: number) => u8(0x4d, ...le(n, 2)),
  Long1: (n: bigint) => {
    const b: number[] = [];
    let v = n;
    while (v !== 0n && v !== -1n) {
      b.push(Number(v & 0xffn));
      v >>= 8n;
    }
    if (n >= 0n && (b.length === 0 || b[b.length - 1] & 0x80)) b.push(0);
    if (n < 0n && (b.length === 0 || !(b[b.length - 1] & 0x80))) b.push(0xff);
    return u8(0x8a, b.length, ...b);
  },
  BinFloat: (x: number) => {
    const b = Buffer.alloc(8);
    b.writeDoubleBE(x);
    return u8(0x47, ...b);
  },
  String: (s: string) => u8(0x53, ...line(`'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`)),
  ShortBinString: (s: string) => u8(0x55, enc.encode(s).length, ...enc.encode(s)),
  Unicode: (s: string) => u8(0x56, ...rawUnicodeEscape(s), 0x0a),
  BinUnicode: (s: string) => u8(0x58, ...le(enc.encode(s).length, 4), ...enc.encode(s)),
  ShortBinUnicode: (s: string) => u8(0x8c, enc.encode(s).length, ...enc.encode(s)),
  ShortBinBytes: (b: Uint8Array | string) => {
    const d = typeof b === 'string' ? Buffer.from(b, 'latin1') : b;
    return u8(0x43, d.length, ...d);
  },
  BinBytes: (b: Uint8Array) => u8(0x42, ...le(b.length, 4), ...b),
  Global: (module: string, name: string) => u8(0x63, ...line(module), ...line(name)),
  Inst: (module: string, name: string) => u8(0x69, ...line(module), ...line(name)),
  StackGlobal: () => u8(0x93),
  Memoize: () => u8(0x94),
  Put: (n: number) => u8(0x70, ...line(String(n))),
  BinPut: (n: number) => u8(0x71, n),
  LongBinPut: (n: number) => u8(0x72, ...le(n, 4)),
  Get: (n: number) => u8(0x67, ...line(String(n))),
  BinGet: (n: number) => u8(0x68, n),
  EmptyTuple: () => u8(0x29),
  TupleOne: () => u8(0x85),
  TupleTwo: () => u8(0x86),
  TupleThree: () => u8(0x87),
  Tuple: () => u8(0x74),
  EmptyList: () => u8(0x5d),
  List: () => u8(0x6c),
  Append: () => u8(0x61),
  Appends: () => u8(0x65),
  EmptyDict: () => u8(0x7d),
  Dict: () => u8(0x64),
  SetItem: () => u8(0x73),
  SetItems: () => u8(0x75),
  EmptySet: () => u8(0x8f),
  AddItems: () => u8(0x90),
  Reduce: () => u8(0x52),
  NewObj: () => u8(0x81),
  NewObjEx: () => u8(0x92),
  Obj: () => u8(0x6f),
  Build: () => u8(0x62),
  BinPersId: () => u8(0x51),
};

/** An opcode list as bytes. */
export function ops(...list: Op[]): Uint8Array {
  return cat(list);
}

// ---------------------------------------------------------------------------------------------
// Values, pickled as CPython's pickler writes them

/** A module-level global (function or class), pickled by reference. */
export class G {
  constructor(readonly module: string, readonly name: string) {}
}
/** What `__reduce__` returns: `fn(*args)`, optionally followed by BUILD state. */
export class Call {
  constructor(readonly fn: G | Call, readonly args: V[], readonly state?: V, readonly newobj = false) {}
}
export class Tuple {
  constructor(readonly items: V[]) {}
}
export type V = null | boolean | number | bigint | string | Uint8Array | V[] | Tuple | Map<V, V> | G | Call;

export const g = (module: string, name: string) => new G(module, name);
export const call = (fn: G | Call, ...args: V[]) => new Call(fn, args);
export const tuple = (...items: V[]) => new Tuple(items);

/** Python 3 names as a protocol 0-2 pickle writes them (pickle's fix_imports). */
function fixImports(m: string, proto: number): string {
  if (proto >= 3) return m;
  if (m === 'builtins') return '__builtin__';
  if (m === 'copyreg') return 'copy_reg';
  return m;
}

class Pickler {
  private readonly out: Op[] = [];
  private memo = 0;
  constructor(private readonly proto: number) {}

  private put(): void {
    if (this.proto >= 4) this.out.push(op.Memoize());
    else if (this.proto >= 1) this.out.push(this.memo < 256 ? op.BinPut(this.memo) : op.LongBinPut(this.memo));
    else this.out.push(op.Put(this.memo));
    this.memo++;
  }

  private str(s: string): void {
    if (this.proto === 0) this.out.push(op.Unicode(s));
    else if (this.proto >= 4 && enc.encode(s).length < 256) this.out.push(op.ShortBinUnicode(s));
    else this.out.push(op.BinUnicode(s));
    this.put();
  }

  private global(x: G): void {
    const m = fixImports(x.module, this.proto);
    if (this.proto >= 4) {
      // socket.socket: CPython memoizes the interned name once and fetches it again.
      const at = this.memo;
      this.str(m);
      if (x.name === m) this.out.push(at < 256 ? op.BinGet(at) : u8(0x6a, ...le(at, 4)));
      else this.str(x.name);
      this.out.push(op.StackGlobal());
    } else {
      this.out.push(op.Global(m, x.name));
    }
    this.put();
  }

  private int(n: number | bigint): void {
    if (typeof n === 'bigint' || !Number.isSafeInteger(n) || n > 0x7fffffff || n < -0x80000000) {
      if (this.proto >= 2) this.out.push(op.Long1(BigInt(n)));
      else this.out.push(u8(0x4c, ...line(`${BigInt(n)}L`)));
      return;
    }
    if (this.proto === 0) this.out.push(op.Int(n));
    else if (n >= 0 && n < 256) this.out.push(op.BinInt1(n));
    else if (n >= 0 && n < 65536) this.out.push(op.BinInt2(n));
    else this.out.push(op.BinInt(n));
  }

  private tuple(items: V[]): void {
    if (items.length === 0) {
      this.out.push(this.proto === 0 ? cat([op.Mark(), op.Tuple()]) : op.EmptyTuple());
      return;
    }
    if (this.proto >= 2 && items.length <= 3) {
      for (const x of items) this.value(x);
      this.out.push([op.TupleOne, op.TupleTwo, op.TupleThree][items.length - 1]());
    } else {
      this.out.push(op.Mark());
      for (const x of items) this.value(x);
      this.out.push(op.Tuple());
    }
    this.put();
  }

  value(v: V): void {
    if (v === null) return void this.out.push(op.NoneOpcode());
    if (typeof v === 'boolean') return void this.out.push(this.proto >= 2 ? (v ? op.NewTrue() : op.NewFalse()) : u8(0x49, ...line(v ? '01' : '00')));
    if (typeof v === 'number') {
      if (Number.isInteger(v)) return this.int(v);
      return void this.out.push(this.proto === 0 ? u8(0x46, ...line(String(v))) : op.BinFloat(v));
    }
    if (typeof v === 'bigint') return this.int(v);
    if (typeof v === 'string') return this.str(v);
    if (v instanceof Uint8Array) {
      if (this.proto >= 3) {
        this.out.push(v.length < 256 ? op.ShortBinBytes(v) : op.BinBytes(v));
        this.put();
      } else {
        // Python 3 writes bytes for protocols 0-2 as _codecs.encode(<latin-1 text>, 'latin1').
        this.value(new Call(new G('_codecs', 'encode'), [Buffer.from(v).toString('latin1'), 'latin1']));
      }
      return;
    }
    if (v instanceof G) return this.global(v);
    if (v instanceof Tuple) return this.tuple(v.items);
    if (Array.isArray(v)) {
      if (this.proto === 0) {
        this.out.push(op.Mark(), op.List());
        this.put();
        for (const x of v) {
          this.value(x);
          this.out.push(op.Append());
        }
        return;
      }
      this.out.push(op.EmptyList());
      this.put();
      if (v.length === 1) {
        this.value(v[0]);
        this.out.push(op.Append());
      } else if (v.length) {
        this.out.push(op.Mark());
        for (const x of v) this.value(x);
        this.out.push(op.Appends());
      }
      return;
    }
    if (v instanceof Map) {
      if (this.proto === 0) {
        this.out.push(op.Mark(), op.Dict());
        this.put();
        for (const [k, x] of v) {
          this.value(k);
          this.value(x);
          this.out.push(op.SetItem());
        }
        return;
      }
      this.out.push(op.EmptyDict());
      this.put();
      if (v.size === 1) {
        for (const [k, x] of v) {
          this.value(k);
          this.value(x);
        }
        this.out.push(op.SetItem());
      } else if (v.size) {
        this.out.push(op.Mark());
        for (const [k, x] of v) {
          this.value(k);
          this.value(x);
        }
        this.out.push(op.SetItems());
      }
      return;
    }
    if (v instanceof Call) {
      if (v.newobj && this.proto >= 2) {
        this.value(v.fn);
        this.tuple(v.args);
        this.out.push(op.NewObj());
      } else {
        this.value(v.fn);
        this.tuple(v.args);
        this.out.push(op.Reduce());
      }
      this.put();
      if (v.state !== undefined) {
        this.value(v.state);
        this.out.push(op.Build());
      }
      return;
    }
    throw new Error(`cannot pickle ${String(v)}`);
  }

  bytes(): Uint8Array {
    const body = cat(this.out);
    if (this.proto < 2) return cat([body, op.Stop()]);
    if (this.proto < 4) return cat([op.Proto(this.proto), body, op.Stop()]);
    const framed = cat([body, op.Stop()]);
    return cat([op.Proto(this.proto), op.Frame(framed.length), framed]);
  }
}

/** pickle.dumps(value, protocol), as CPython writes it. */
export function dumps(v: V, protocol: number): Uint8Array {
  const p = new Pickler(protocol);
  p.value(v);
  return p.bytes();
}

/**
 * What `pickle.dumps(Payload(), protocol)` writes for a payload whose `__reduce__` returns
 * `(module.func, args)` (fickling's make_malicious_pickle): the function as Python names it.
 */
export function reducePayload(module: string, func: string, args: V[], protocol: number): Uint8Array {
  return dumps(call(g(module, func), ...args), protocol);
}

// ---------------------------------------------------------------------------------------------
// Zip archives (stored, no compression), for torch-zip-shaped inputs

export interface StoredZipOptions {
  /** Flip the central directory's CRCs. */
  corruptCentralCrc?: boolean;
  /** 64 bytes of nothing after the member at this index (data that no header accounts for). */
  gapAfter?: number;
  /** Set the general-purpose flag that announces a data descriptor after each member's data. */
  descriptor?: boolean;
}

/**
 * A stored zip of `members` in order, back to back: no alignment padding, as writers other than
 * torch.save lay them out.
 */
export function storedZip(members: [string, Uint8Array][], opts: StoredZipOptions = {}): Uint8Array {
  const local: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  const flags = opts.descriptor ? 8 : 0;
  members.forEach(([name, data], i) => {
    const member: ZipMember = { name: Buffer.from(name, 'utf8'), method: 0, flags, crc: zlib.crc32(data) >>> 0, csize: data.length, size: data.length };
    local.push(zipLocalHeader(member), member.name, Buffer.from(data));
    central.push(zipCentralHeader(member, offset, opts.corruptCentralCrc ? ~member.crc >>> 0 : member.crc), member.name);
    offset += 30 + member.name.length + data.length;
    if (opts.gapAfter === i) {
      local.push(Buffer.alloc(64));
      offset += 64;
    }
  });
  const cd = Buffer.concat(central);
  return Uint8Array.from(Buffer.concat([...local, cd, zipEnd(members.length, cd.length, offset)]));
}

/** What a zip member's headers say of it: compression method (0 stored, 8 deflated), flags, CRC and sizes as declared. */
export interface ZipMember {
  name: Buffer;
  method: number;
  flags: number;
  crc: number;
  /** Compressed size. */
  csize: number;
  size: number;
}

/** A member's local header (30 bytes; its name follows it). */
export function zipLocalHeader(m: ZipMember): Buffer {
  const h = Buffer.alloc(30);
  h.writeUInt32LE(0x04034b50, 0);
  h.writeUInt16LE(20, 4);
  h.writeUInt16LE(m.flags, 6);
  h.writeUInt16LE(m.method, 8);
  h.writeUInt32LE(m.crc, 14);
  h.writeUInt32LE(m.csize, 18);
  h.writeUInt32LE(m.size, 22);
  h.writeUInt16LE(m.name.length, 26);
  return h;
}

/** A member's central directory header (46 bytes; its name follows it), for the local header at `offset`, with `crc` as it declares. */
export function zipCentralHeader(m: ZipMember, offset: number, crc = m.crc): Buffer {
  const c = Buffer.alloc(46);
  c.writeUInt32LE(0x02014b50, 0);
  c.writeUInt16LE(20, 4);
  c.writeUInt16LE(20, 6);
  c.writeUInt16LE(m.flags, 8);
  c.writeUInt16LE(m.method, 10);
  c.writeUInt32LE(crc, 16);
  c.writeUInt32LE(m.csize, 20);
  c.writeUInt32LE(m.size, 24);
  c.writeUInt16LE(m.name.length, 28);
  c.writeUInt32LE(offset, 42);
  return c;
}

/** The end of central directory record (22 bytes) for `count` members, a directory of `cdLength` bytes at `cdOffset`. */
export function zipEnd(count: number, cdLength: number, cdOffset: number): Buffer {
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(count, 8);
  end.writeUInt16LE(count, 10);
  end.writeUInt32LE(cdLength, 12);
  end.writeUInt32LE(cdOffset, 16);
  return end;
}

/** A torch.save-shaped zip (archive/data.pkl, archive/version) whose data.pkl is `pkl`. */
export function torchZip(pkl: Uint8Array, extra: [string, Uint8Array][] = []): Uint8Array {
  return storedZip([['archive/data.pkl', pkl], ['archive/version', enc.encode('3\n')], ...extra]);
}
