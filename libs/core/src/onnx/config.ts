/**
 * Typed reads of a Hugging Face config.json: a missing or mistyped required field is a
 * CoreError(INVALID_MODEL) naming it, so a family never builds a graph from `undefined`.
 */
import { CoreError, ErrorCode } from '../errors';

export type HfConfig = Record<string, unknown>;

export class ConfigReader {
  constructor(
    readonly raw: HfConfig,
    private readonly label = String(raw.model_type ?? 'config'),
  ) {}

  get modelType(): string {
    return this.str('model_type');
  }

  has(key: string): boolean {
    return this.raw[key] !== undefined && this.raw[key] !== null;
  }

  /** A required number (the first key present, for aliases such as hidden_size / dim / d_model). */
  num(key: string | string[], fallback?: number): number {
    for (const k of Array.isArray(key) ? key : [key]) {
      const v = this.raw[k];
      if (v === undefined || v === null) continue;
      if (typeof v !== 'number' || !Number.isFinite(v)) {
        throw new CoreError(
          ErrorCode.INVALID_MODEL,
          `${this.label} config: ${k} must be a number, got ${JSON.stringify(v)}`,
        );
      }
      return v;
    }
    if (fallback !== undefined) return fallback;
    throw new CoreError(ErrorCode.INVALID_MODEL, `${this.label} config: missing ${[key].flat().join(' / ')}`);
  }

  /** A required positive integer. */
  int(key: string | string[], fallback?: number): number {
    const v = this.num(key, fallback);
    if (!Number.isInteger(v) || v <= 0) {
      throw new CoreError(
        ErrorCode.INVALID_MODEL,
        `${this.label} config: ${[key].flat()[0]} must be a positive integer, got ${v}`,
      );
    }
    return v;
  }

  str(key: string | string[], fallback?: string): string {
    for (const k of Array.isArray(key) ? key : [key]) {
      const v = this.raw[k];
      if (v === undefined || v === null) continue;
      if (typeof v !== 'string') {
        throw new CoreError(
          ErrorCode.INVALID_MODEL,
          `${this.label} config: ${k} must be a string, got ${JSON.stringify(v)}`,
        );
      }
      return v;
    }
    if (fallback !== undefined) return fallback;
    throw new CoreError(ErrorCode.INVALID_MODEL, `${this.label} config: missing ${[key].flat().join(' / ')}`);
  }

  bool(key: string, fallback: boolean): boolean {
    const v = this.raw[key];
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'boolean') {
      throw new CoreError(
        ErrorCode.INVALID_MODEL,
        `${this.label} config: ${key} must be a boolean, got ${JSON.stringify(v)}`,
      );
    }
    return v;
  }

  /** hidden / heads, checked to divide exactly. */
  headDim(hidden: number, heads: number): number {
    if (hidden % heads !== 0) {
      throw new CoreError(
        ErrorCode.INVALID_MODEL,
        `${this.label} config: hidden size ${hidden} is not divisible by ${heads} heads`,
      );
    }
    return hidden / heads;
  }
}
