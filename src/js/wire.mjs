// Reads the host's instruction buffers (src/host/wire.rs writes them): a record per
// instruction, a kind byte then its fields, integers little-endian, text and bytes as a u32
// length and their bytes. The kinds are numbered as in wire.rs.

export const Kind = Object.freeze({
  Fetch: 1,
  Arm: 2,
  Read: 3,
  Abort: 4,
  Cancel: 5,
  Durable: 6,
  KvGet: 7,
  KvPut: 8,
  Body: 9,
  Respond: 10,
  Chunk: 11,
  Spawned: 13,
  Ended: 14,
  Log: 15,
  Sign: 16,
});

const decoder = new TextDecoder();

export class Reader {
  constructor(buf) {
    this.buf = buf;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    this.at = 0;
  }
  more() {
    return this.at < this.buf.length;
  }
  u8() {
    return this.buf[this.at++];
  }
  u16() {
    const v = this.view.getUint16(this.at, true);
    this.at += 2;
    return v;
  }
  u32() {
    const v = this.view.getUint32(this.at, true);
    this.at += 4;
    return v;
  }
  f64() {
    const v = this.view.getFloat64(this.at, true);
    this.at += 8;
    return v;
  }
  /** A view into the buffer (each buffer is the host's fresh copy: nothing writes it again). */
  bytes() {
    const n = this.u32();
    const b = this.buf.subarray(this.at, this.at + n);
    this.at += n;
    return b;
  }
  text() {
    const n = this.u32();
    const s = n ? decoder.decode(this.buf.subarray(this.at, this.at + n)) : "";
    this.at += n;
    return s;
  }
}
