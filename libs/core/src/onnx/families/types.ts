/**
 * The contract between buildOnnxModel and one architecture family. A family module adds inputs,
 * nodes, weights and outputs to the GraphBuilder it is given; buildOnnxModel opens the weights,
 * saves the graph and reports. Register a module in ./index.ts (one line).
 */
import type { ModelFamily } from '../../models/registry';
import type { ConfigReader } from '../config';
import type { GraphBuilder } from '../graph';
import type { PoolingSpec, Task } from '../tasks';
import type { WeightSource } from '../weights';

/** Standard ONNX ops only, or onnxruntime's fused contrib ops (com.microsoft). */
export type GraphFlavour = 'portable' | 'optimized';
export const GRAPH_FLAVOURS: readonly GraphFlavour[] = ['portable', 'optimized'];

export interface FamilyContext {
  g: GraphBuilder;
  config: ConfigReader;
  weights: WeightSource;
  /** The head to emit (checked against the model type by buildOnnxModel). */
  task: Task;
  /** sentence-transformers pooling: adds `sentence_embedding` to a feature-extraction graph. */
  pooling?: PoolingSpec;
  /**
   * Causal decoders: emit the KV-cache graph (position_ids, past_key_values.* inputs, present.*
   * outputs) instead of the full-sequence one.
   */
  kvCache?: boolean;
  /**
   * `optimized`: onnxruntime's fused contrib ops where the family has them (FamilyModule.optimized);
   * `portable` (default): standard ONNX ops only.
   */
  graph?: GraphFlavour;
  signal?: AbortSignal;
  /** Progress within the family's build, 0..1 (buildOnnxModel rescales it). */
  progress(fraction: number, step: string): void;
}

export interface FamilyModule {
  readonly family: ModelFamily;
  /** The config.json model_type values this module builds. */
  readonly modelTypes: readonly string[];
  /** The model types of the family that build an `optimized` graph (fused contrib ops). */
  readonly optimized?: readonly string[];
  /** Prefixes a checkpoint of this model_type may put before base-model tensor names ('' first). */
  weightPrefixes(modelType: string): string[];
  build(ctx: FamilyContext): void | Promise<void>;
}
