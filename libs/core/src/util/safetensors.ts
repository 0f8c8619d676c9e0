/**
 * Safetensors: 8-byte little-endian header length, a JSON header mapping each tensor name to
 * `{dtype, shape, data_offsets}`, then the raw little-endian bytes. Reads lazily (one tensor at a
 * time from the file) so multi-GiB checkpoints never have to fit in memory at once.
 */
import { closeSync, openSync, readSync, fstatSync, writeFileSync } from 'node:fs';
import { CoreError, ErrorCode } from '../errors';

export type SafetensorsDtype = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

export interface SafetensorsEntry {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  /** Byte range relative to the start of the data section. */
  begin: number;
  end: number;
}

const BYTES: Record<SafetensorsDtype, number> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
};

export class SafetensorsFile {
  readonly entries = new Map<string, SafetensorsEntry>();
  readonly metadata: Record<string, string> = {};
  private readonly dataStart: number;

  private constructor(
    private readonly fd: number,
    readonly path: string,
  ) {
    const size = fstatSync(fd).size;
    if (size < 8) throw new CoreError(ErrorCode.INVALID_MODEL, `${path}: not a safetensors file (too short)`);
    const lenBuf = Buffer.alloc(8);
    readSync(fd, lenBuf, 0, 8, 0);
    const headerLen = Number(lenBuf.readBigUInt64LE(0));
    if (headerLen <= 0 || headerLen > 100 * 1024 * 1024 || 8 + headerLen > size) {
      throw new CoreError(ErrorCode.INVALID_MODEL, `${path}: bad safetensors header length ${headerLen}`);
    }
    const header = Buffer.alloc(headerLen);
    readSync(fd, header, 0, headerLen, 8);
    let json: Record<string, unknown>;
    try {
      json = JSON.parse(header.toString('utf8')) as Record<string, unknown>;
    } catch {
      throw new CoreError(ErrorCode.INVALID_MODEL, `${path}: safetensors header is not JSON`);
    }
    this.dataStart = 8 + headerLen;
    const dataLen = size - this.dataStart;
    for (const [name, value] of Object.entries(json)) {
      if (name === '__metadata__') {
        Object.assign(this.metadata, value as Record<string, string>);
        continue;
      }
      const v = value as { dtype: SafetensorsDtype; shape: number[]; data_offsets: [number, number] };
      if (!(v.dtype in BYTES))
        throw new CoreError(ErrorCode.INVALID_MODEL, `${path}: ${name} has unsupported dtype ${v.dtype}`);
      const [begin, end] = v.data_offsets;
      const count = v.shape.reduce((a, b) => a * b, 1);
      if (end - begin !== count * BYTES[v.dtype] || end > dataLen || begin < 0) {
        throw new CoreError(ErrorCode.INVALID_MODEL, `${path}: ${name} has inconsistent offsets`);
      }
      this.entries.set(name, { name, dtype: v.dtype, shape: v.shape, begin, end });
    }
  }

  static open(path: string): SafetensorsFile {
    let fd: number;
    try {
      fd = openSync(path, 'r');
    } catch (err) {
      throw new CoreError(ErrorCode.MODEL_NOT_FOUND, `cannot open ${path}: ${(err as Error).message}`);
    }
    try {
      return new SafetensorsFile(fd, path);
    } catch (err) {
      closeSync(fd);
      throw err;
    }
  }

  names(): string[] {
    return [...this.entries.keys()];
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  get(name: string): SafetensorsEntry {
    const e = this.entries.get(name);
    if (!e) throw new CoreError(ErrorCode.INVALID_MODEL, `${this.path}: tensor ${name} not found`);
    return e;
  }

  /** The raw little-endian bytes of one tensor. */
  bytes(name: string): Buffer {
    const e = this.get(name);
    const buf = Buffer.alloc(e.end - e.begin);
    let off = 0;
    while (off < buf.length) {
      const n = readSync(this.fd, buf, off, buf.length - off, this.dataStart + e.begin + off);
      if (n <= 0) throw new CoreError(ErrorCode.INVALID_MODEL, `${this.path}: truncated data for ${name}`);
      off += n;
    }
    return buf;
  }

  /** One tensor as float32 (F32, F16 and BF16 converted; integers cast). */
  float32(name: string): Float32Array {
    const e = this.get(name);
    const b = this.bytes(name);
    const count = e.shape.reduce((a, c) => a * c, 1);
    const out = new Float32Array(count);
    const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
    switch (e.dtype) {
      case 'F32':
        for (let i = 0; i < count; i++) out[i] = view.getFloat32(i * 4, true);
        break;
      case 'F64':
        for (let i = 0; i < count; i++) out[i] = view.getFloat64(i * 8, true);
        break;
      case 'F16':
        for (let i = 0; i < count; i++) out[i] = halfToFloat(view.getUint16(i * 2, true));
        break;
      case 'BF16': {
        const u32 = new Uint32Array(out.buffer);
        for (let i = 0; i < count; i++) u32[i] = view.getUint16(i * 2, true) << 16;
        break;
      }
      case 'I64':
        for (let i = 0; i < count; i++) out[i] = Number(view.getBigInt64(i * 8, true));
        break;
      case 'I32':
        for (let i = 0; i < count; i++) out[i] = view.getInt32(i * 4, true);
        break;
      default:
        for (let i = 0; i < count; i++) out[i] = b[i] ?? 0;
    }
    return out;
  }

  /** One integer tensor as BigInt64Array (I64, I32, I8, U8, BOOL). */
  int64(name: string): BigInt64Array {
    const e = this.get(name);
    const b = this.bytes(name);
    const count = e.shape.reduce((a, c) => a * c, 1);
    const out = new BigInt64Array(count);
    const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
    for (let i = 0; i < count; i++) {
      switch (e.dtype) {
        case 'I64':
          out[i] = view.getBigInt64(i * 8, true);
          break;
        case 'I32':
          out[i] = BigInt(view.getInt32(i * 4, true));
          break;
        case 'I16':
          out[i] = BigInt(view.getInt16(i * 2, true));
          break;
        case 'I8':
          out[i] = BigInt(view.getInt8(i));
          break;
        case 'U8':
        case 'BOOL':
          out[i] = BigInt(view.getUint8(i));
          break;
        default:
          throw new CoreError(
            ErrorCode.INVALID_MODEL,
            `${this.path}: ${name} is ${e.dtype}, not an integer tensor`,
          );
      }
    }
    return out;
  }

  close(): void {
    closeSync(this.fd);
  }
}

/** IEEE 754 half → float. */
export function halfToFloat(h: number): number {
  const s = (h & 0x8000) >> 15;
  const e = (h & 0x7c00) >> 10;
  const f = h & 0x03ff;
  let v: number;
  if (e === 0) v = (f / 1024) * 2 ** -14;
  else if (e === 0x1f) v = f ? NaN : Infinity;
  else v = (1 + f / 1024) * 2 ** (e - 15);
  return s ? -v : v;
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
/** float → IEEE 754 half, round to nearest even. */
export function floatToHalf(value: number): number {
  f32[0] = value;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  let exp = ((x >>> 23) & 0xff) - 127 + 15;
  let mant = x & 0x7fffff;
  if (((x >>> 23) & 0xff) === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  if (exp >= 0x1f) return sign | 0x7c00;
  if (exp <= 0) {
    if (exp < -10) return sign;
    mant = (mant | 0x800000) >>> (1 - exp);
    if (mant & 0x1000 && mant & 0x2fff) mant += 0x2000;
    return sign | (mant >>> 13);
  }
  if (mant & 0x1000 && mant & 0x2fff) {
    mant += 0x2000;
    if (mant & 0x800000) {
      mant = 0;
      exp += 1;
      if (exp >= 0x1f) return sign | 0x7c00;
    }
  }
  return sign | (exp << 10) | (mant >>> 13);
}

/** Writes a safetensors file (used by specs and by tools that save golden IO). */
export function writeSafetensors(
  path: string,
  tensors: Record<string, { dtype: 'F32' | 'I64'; shape: number[]; data: Float32Array | BigInt64Array }>,
): void {
  const header: Record<string, unknown> = {};
  const parts: Buffer[] = [];
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    const buf = Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + buf.length] };
    parts.push(buf);
    offset += buf.length;
  }
  let json = Buffer.from(JSON.stringify(header), 'utf8');
  const pad = (8 - (json.length % 8)) % 8;
  if (pad) json = Buffer.concat([json, Buffer.alloc(pad, 0x20)]);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  writeFileSync(path, Buffer.concat([len, json, ...parts]));
}
