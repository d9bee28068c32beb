// A safetensors file with a real header and a data region of the real size that is never written
// (sparse: a 10 GB file takes a few kilobytes on disk), for the benches and the large-model tests.
// CommonJS, so ESM benches, the e2e harness and compiled tests all load it.
'use strict';
const fs = require('fs');

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

module.exports = { writeSparseSafetensors };
