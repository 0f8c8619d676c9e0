/**
 * The residual stream of a pre-norm transformer (ViT, GPT-2, Llama/Qwen2, T5): each block reads
 * `norm(x)` and its output is added back to x. In the portable graph that is LayerNormalization (or
 * the RMSNorm pattern) and Add; in the optimized graph each add fuses with the norm that follows it
 * into one com.microsoft SkipLayerNormalization / SkipSimplifiedLayerNormalization, whose fourth
 * output is the sum (the stream itself), as onnxruntime's transformer optimizer and onnxruntime-genai
 * emit them. The block's output bias, when it has one, goes into the fused op too.
 */
import { floatAttr, type GraphBuilder } from '../graph';
import type { WeightSource } from '../weights';
import { rmsNorm } from './decoder-common';
import { layerNormLayer, layerNormWeights } from './layers';

export type NormKind = 'layer' | 'rms';

export interface ResidualStreamOptions {
  /** nn.LayerNorm (`<name>.weight`, `<name>.bias`) or RMSNorm (`<name>.weight`). */
  kind: NormKind;
  size: number;
  eps: number;
  /** Fuse each add with the next norm (the optimized graph). */
  fused: boolean;
}

export class ResidualStream {
  private x: string;
  /** A block output (and its bias) not yet added to x: the fused graph adds it in the next norm. */
  private pending?: { delta: string; bias?: string };

  constructor(
    private readonly g: GraphBuilder,
    private readonly w: WeightSource,
    private readonly opts: ResidualStreamOptions,
    x: string,
  ) {
    this.x = x;
  }

  /** Adds a block's output (plus `bias`, a [size] initializer, when given) to the stream. */
  add(delta: string, bias?: string): void {
    this.flush();
    if (this.opts.fused) this.pending = { delta, bias };
    else this.x = this.g.add(this.x, bias ? this.g.add(delta, bias) : delta);
  }

  /** The norm `name` of the stream: the normed input of the next block, or the final norm. */
  norm(name: string): string {
    const { g, w, opts } = this;
    const { size, eps } = opts;
    if (!this.pending) {
      if (opts.kind === 'layer') return layerNormLayer(g, w, name, this.x, size, eps);
      if (!opts.fused) return rmsNorm(g, w, `${name}.weight`, this.x, size, eps);
      return g.contribOp('SimplifiedLayerNormalization', [this.x, this.gamma(name)], {
        axis: -1,
        epsilon: floatAttr(eps),
        stash_type: 1,
      });
    }
    const { delta, bias } = this.pending;
    this.pending = undefined;
    // Outputs: normed, mean and inverse std (unused), input + skip + bias.
    const [normed, , , sum] =
      opts.kind === 'layer'
        ? g.msOp(
            'SkipLayerNormalization',
            [delta, this.x, ...layerNormWeights(g, w, name, size), bias ?? ''],
            { epsilon: floatAttr(eps) },
            4,
          )
        : g.msOp(
            'SkipSimplifiedLayerNormalization',
            [delta, this.x, this.gamma(name), bias ?? ''],
            { epsilon: floatAttr(eps) },
            4,
          );
    this.x = sum!;
    return normed!;
  }

  /** The stream as it stands (any pending block output added). */
  get value(): string {
    this.flush();
    return this.x;
  }

  private flush(): void {
    if (!this.pending) return;
    const { delta, bias } = this.pending;
    this.pending = undefined;
    this.x = this.g.add(this.x, bias ? this.g.add(delta, bias) : delta);
  }

  private gamma(name: string): string {
    const n = `${name}.weight`;
    return this.g.weight(n, this.w.get(n, [this.opts.size], { init: 'ones' }), [this.opts.size]);
  }
}
