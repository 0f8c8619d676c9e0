/**
 * The framework-free contracts shared by the Test, Generator and Benchmark cores.
 * Nothing here (or anywhere under libs/core) imports @nestjs/*.
 */
import type { InferenceSession, Tensor } from 'onnxruntime-node';

export const BACKEND_NAMES = ['cpu', 'cuda', 'webgpu'] as const;
export type BackendName = (typeof BACKEND_NAMES)[number];

export function isBackendName(value: unknown): value is BackendName {
  return typeof value === 'string' && (BACKEND_NAMES as readonly string[]).includes(value);
}

/** What detection found for one execution provider. */
export interface BackendDetection {
  name: BackendName;
  available: boolean;
  /** Actionable explanation when not available. */
  reason?: string;
  /** Device details (adapter, driver, cores, ...) when known. */
  device?: Record<string, unknown>;
  onnxruntime_version: string;
  execution_provider: string;
  /** How long detection took (opening a real tiny session), ms. */
  detect_ms?: number;
}

/**
 * One hardware backend: a thin layer over an onnxruntime-node execution provider.
 * Nest registers one per name behind a single injection token; cores only see this interface.
 */
export interface HardwareBackend {
  readonly name: BackendName;
  /** Opens a real tiny session on the provider, once (cached), under a time limit. */
  detect(): Promise<BackendDetection>;
  /** Session options to run a model on this backend. */
  sessionOptions(): InferenceSession.SessionOptions;
}

/** The tensor element types this project reads and writes (onnxruntime's names). */
export const TENSOR_DTYPES = [
  'float32',
  'float16',
  'int64',
  'int32',
  'int8',
  'uint8',
  'bool',
  'string',
  'float64',
] as const;

export type TensorDtype = (typeof TENSOR_DTYPES)[number];

/** A symbolic dim is a string (`batch_size`, `sequence_length`, ...), a fixed one a number. */
export type Dim = number | string;

export interface TensorSpec {
  name: string;
  dtype: TensorDtype;
  shape: Dim[];
}

/** What kind of input a name is, so generated inputs are meaningful. */
export type InputRole = 'ids' | 'mask' | 'token_types' | 'positions' | 'pixels' | 'float' | 'other';

export interface ModelMetadata {
  /** Registry id, generated slug or file path. */
  id: string;
  /** encoder | decoder | vision | encoder-decoder | onnx (a plain file of unknown family). */
  family: string;
  /** The Hugging Face config when known. */
  config?: Record<string, unknown>;
  inputs: TensorSpec[];
  outputs: TensorSpec[];
  /** Vocabulary size, when known: generated ids stay inside it. */
  vocabSize?: number;
  /** Maximum sequence length (positions), when known. */
  maxPositions?: number;
  /** Image size and channels for vision models. */
  imageSize?: number;
  numChannels?: number;
  /** Whether a tokenizer travels with the model (handle.encode is available). */
  hasTokenizer?: boolean;
  /** The head the graph carries (optimum task name), for generated implementations. */
  task?: string;
  /** Label names by class index, for classification logits. */
  id2label?: Record<string, string>;
  /** sentence-transformers pooling the graph applies (its sentence_embedding output). */
  pooling?: { mode: string; normalize: boolean };
  /** The ONNX file this implementation runs, when it is a file. */
  onnxPath?: string;
}

export type Feeds = Record<string, Tensor>;
export type Outputs = Record<string, Tensor>;

export interface EncodeOptions {
  maxLength?: number;
  padding?: boolean | 'max_length' | 'longest';
  truncation?: boolean;
}

export interface LoadOptions {
  backend: BackendName;
  /** Options from the HardwareBackend; an implementation may add its own defaults. */
  sessionOptions?: InferenceSession.SessionOptions;
}

/** A loaded model on one backend. */
/** One chat turn, as chat templates take them. */
export interface ChatMessage {
  role: string;
  content: string;
}

/** Token ids (one prompt or a batch), text (with a tokenizer) or chat messages (with a chat template). */
export type GenerateInput = number[] | number[][] | string | string[] | ChatMessage[] | ChatMessage[][];

/** A step of generate(): the token each row got (null: the row had already stopped). */
export interface TokenEvent {
  step: number;
  tokens: (number | null)[];
  finished: boolean[];
}

/** generate()'s options, as generated implementations declare them (transformers' names in camelCase). */
export interface GenerateOptions {
  maxNewTokens?: number;
  doSample?: boolean;
  temperature?: number;
  topK?: number;
  topP?: number;
  seed?: number;
  eosTokenId?: number | number[];
  padTokenId?: number;
  onToken?: (event: TokenEvent) => void;
  signal?: AbortSignal;
  decode?: boolean;
  skipSpecialTokens?: boolean;
}

export interface GenerationResult {
  /** The new tokens of each row (an EOS that stopped the row included). */
  tokens: number[][];
  /** Prompt + new tokens of each row, without padding. */
  sequences: number[][];
  text?: string[];
  finishReasons: ('eos' | 'length')[];
  promptTokens: number[];
  /** prefillMs: start to the first token; stepMs: each later step; totalMs: the whole call. */
  timings: { prefillMs: number; stepMs: number[]; totalMs: number };
}

export interface ModelHandle {
  readonly backend: BackendName;
  run(feeds: Feeds): Promise<Outputs>;
  release(): Promise<void>;
  /** Language models of generated implementations: the autoregressive loop (KV cache when the graph has one). */
  generate?(input: GenerateInput, options?: GenerateOptions): Promise<GenerationResult>;
  /** Token ids → text, with a tokenizer. */
  decode?(ids: readonly number[], options?: { skipSpecialTokens?: boolean }): Promise<string>;
  /** Text in: present when the model has a tokenizer. */
  encode?(texts: string | string[], options?: EncodeOptions): Promise<Feeds>;
  /** Sentence embeddings, one per text: sentence-transformers models with a tokenizer. */
  embed?(texts: string | string[], options?: EncodeOptions): Promise<Float32Array[]>;
}

export interface MakeInputsOptions {
  batchSize: number;
  sequenceLength?: number;
  seed?: number;
}

/** What the Test and Benchmark cores run: a generated module or the generic one for a .onnx file. */
export interface ModelImplementation {
  readonly metadata: ModelMetadata;
  /** The backends a generated implementation was written for (its SUPPORTED_BACKENDS); any when absent. */
  readonly supportedBackends?: readonly BackendName[];
  load(options: LoadOptions): Promise<ModelHandle>;
  makeInputs(options: MakeInputsOptions): Feeds;
}

/** One progress report from a core function. `progress` is 0..1. */
export interface ProgressReport {
  progress: number;
  step: string;
  data?: Record<string, unknown>;
}

export type ProgressFn = (report: ProgressReport) => void;

/** What every long-running core function receives. */
export interface RunContext {
  signal: AbortSignal;
  onProgress: ProgressFn;
}
