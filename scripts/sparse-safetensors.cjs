// A safetensors file with a real header and a data region of the real size that is never written
// (sparse: a 10 GB file takes a few kilobytes on disk), for the benches and the large-model tests.
// CommonJS, so ESM benches, the e2e harness and compiled tests all load it.
'use strict';
const fs = require('fs');
const path = require('path');

/**
 * Write `header` (name -> {dtype, shape, data_offsets}) padded to 8 bytes, then `dataBytes` of
 * holes, except for `writes` ([offset in the data region, bytes]): the few tensor contents a
 * reader needs (compressed-tensors' weight_shape).
 */
function writeSparseSafetensors(file, header, dataBytes, writes = []) {
  let h = JSON.stringify(header);
  while (Buffer.byteLength(h) % 8) h += ' ';
  const hb = Buffer.from(h);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(hb.length));
  const fd = fs.openSync(file, 'w');
  try {
    fs.writeSync(fd, len, 0, 8, 0);
    fs.writeSync(fd, hb, 0, hb.length, 8);
    fs.ftruncateSync(fd, 8 + hb.length + dataBytes);
    for (const [at, bytes] of writes) fs.writeSync(fd, bytes, 0, bytes.length, 8 + hb.length + at);
  } finally {
    fs.closeSync(fd);
  }
}

const BITS = { BOOL: 8, U8: 8, I8: 8, F8_E4M3: 8, F8_E5M2: 8, I16: 16, F16: 16, BF16: 16, I32: 32, U32: 32, F32: 32, I64: 64, F64: 64 };

/**
 * A sharded checkpoint of sparse files in `dir` (kept if its index exists): `tensors`
 * ([name, safetensors dtype, shape], in index order) cut into `shards` files named as the Hub
 * names them, each shard's tensors laid out in `order` (a comparator; index order if absent) and
 * given the bytes `contents(name)` returns (holes where it returns nothing), then `config` as
 * config.json, then the index. Returns the index's path.
 */
function writeSparseShardSet(dir, tensors, shards, config, { order, contents } = {}) {
  const index = path.join(dir, 'model.safetensors.index.json');
  if (fs.existsSync(index)) return index;
  fs.mkdirSync(dir, { recursive: true });
  const per = Math.ceil(tensors.length / shards);
  const weightMap = {};
  let total = 0;
  for (let s = 0; s < shards; s++) {
    const file = `model-${String(s + 1).padStart(5, '0')}-of-${String(shards).padStart(6, '0')}.safetensors`;
    const header = {};
    const writes = [];
    let off = 0;
    const slice = tensors.slice(s * per, (s + 1) * per);
    for (const [name, dt, shape] of order ? slice.sort(order) : slice) {
      const n = (shape.reduce((a, b) => a * b, 1) * BITS[dt]) / 8;
      header[name] = { dtype: dt, shape, data_offsets: [off, off + n] };
      const bytes = contents?.(name);
      if (bytes) writes.push([off, bytes]);
      off += n;
      weightMap[name] = file;
    }
    total += off;
    writeSparseSafetensors(path.join(dir, file), header, off, writes);
  }
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config, null, 2));
  // The index last: its presence says the set is complete.
  fs.writeFileSync(index, JSON.stringify({ metadata: { total_size: total }, weight_map: weightMap }, null, 2));
  return index;
}

module.exports = { writeSparseSafetensors, writeSparseShardSet };
