/** Generator Suite: requests, responses and mappers, in one file. */
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayNotEmpty,
  IsArray,
  IsBoolean,
  IsIn,
  IsInt,
  IsNotEmpty,
  IsObject,
  IsString,
  Matches,
  Max,
  MaxLength,
  Min,
  ValidateNested,
} from 'class-validator';
import { TASKS, type PoolingSpec, type Task } from '../../../libs/core/src/onnx/tasks';
import { GENERATED_PRECISIONS, type GeneratedPrecision } from '../../../libs/core/src/models/precision';
import { INT4_BLOCK_SIZES } from '../../../libs/core/src/onnx/quantize';
import type { BackendName } from '../../../libs/core/src/types';
import {
  IsHardwareList,
  IsTimeoutSeconds,
  AcceptedDto,
  Optional,
  OperationStatusDto,
} from '../../common/operations/operation.dto';

/** Seconds a generation may run when the request gives no `timeout` (capped by MAX_OPERATION_S). */
export const GENERATOR_DEFAULT_TIMEOUT_S = 3600;

export class GenerateModelRequestDto {
  /** A Hugging Face model id from the registry (GET /api/models), or a local folder with config.json inside DATA_DIR or MODEL_ROOTS. */
  @IsString()
  @IsNotEmpty()
  @MaxLength(512)
  model_name: string;

  @IsHardwareList()
  hardware: BackendName[] = ['cpu'];

  /** A folder relative to DATA_DIR/models (default: the model's slug). */
  @Optional()
  @IsString()
  @MaxLength(200)
  @Matches(/^(?!\/)(?!.*(^|\/)\.\.?(\/|$))[\w./-]+$/, {
    message: 'output_dir must be a relative path of letters, digits, ., _, - and / without . or .. segments',
  })
  output_dir?: string;

  /** Overwrite an existing output folder. */
  @Optional()
  @IsBoolean()
  force: boolean = false;

  /** A template name from GET /api/generator/templates. */
  @Optional()
  @IsString()
  @MaxLength(100)
  template_type?: string;

  /** Values for the template's declared variables. */
  @ApiPropertyOptional({ type: 'object', additionalProperties: true })
  @Optional()
  @IsObject()
  template_context?: Record<string, unknown>;

  @ApiPropertyOptional({ enum: ['auto', 'random', 'safetensors'], default: 'auto' })
  @Optional()
  @IsIn(['auto', 'random', 'safetensors'])
  weights: 'auto' | 'random' | 'safetensors' = 'auto';

  /**
   * fp32; fp16 (weights and compute); int8 (projection weights int8 per output channel, activations
   * quantized at run time: com.microsoft DynamicQuantizeMatMul, a cpu kernel; cuda and webgpu get
   * their own graph, `model.<backend>.onnx`, with the same int8 weights as MatMulNBits with bits 8,
   * weight-only: the manifest's `backend_graphs`); int4 (projection weights in 4-bit blocks,
   * weight-only: com.microsoft MatMulNBits, cpu, cuda and webgpu). int8 and int4 keep embeddings and
   * norms in fp32 and quantize the LM head too.
   */
  @ApiPropertyOptional({ enum: GENERATED_PRECISIONS, default: 'fp32' })
  @Optional()
  @IsIn(GENERATED_PRECISIONS)
  precision: GeneratedPrecision = 'fp32';

  /** `precision: int4` only: values per quantization block along the input features (default 32). */
  @ApiPropertyOptional({ enum: INT4_BLOCK_SIZES, default: 32 })
  @Optional()
  @IsIn(INT4_BLOCK_SIZES)
  block_size?: number;

  /**
   * The head to build, as optimum names tasks (default: the one the checkpoint's `architectures`
   * names; GET /api/models lists each model's `task` and `tasks`). A task the model has no head for
   * is a 422 naming the ones it has.
   */
  @ApiPropertyOptional({ enum: TASKS })
  @Optional()
  @IsIn(TASKS)
  task?: Task;

  /**
   * Causal language models: build the KV-cache graph (optimum's "with past" inputs and outputs, what
   * generation needs) or the full-sequence one. Default: true for the text-generation task. `true`
   * for a model or task without one is a 422.
   */
  @Optional()
  @IsBoolean()
  kv_cache?: boolean;

  /**
   * `portable`: standard ONNX ops only. `optimized`: onnxruntime's fused contrib ops, which cpu, cuda
   * and webgpu run: every residual add fused with the norm after it (SkipLayerNormalization,
   * SkipSimplifiedLayerNormalization), BiasGelu / FastGelu, packed QKV with MultiHeadAttention for
   * encoders and ViT/DeiT, RotaryEmbedding for Llama and Qwen2; in every precision (fp16: the fused
   * ops compute in fp16). Left out: `optimized` when `hardware` names cuda or webgpu, `portable` for
   * cpu alone (where the fused graph is not faster). The manifest's `graph` says which
   * was built and `backend_ops` lists the ops and where each runs.
   */
  @ApiPropertyOptional({ enum: ['portable', 'optimized'] })
  @Optional()
  @IsIn(['portable', 'optimized'])
  graph?: 'portable' | 'optimized';

  /** Seed of random weights (default 0). */
  @Optional()
  @IsInt()
  @Min(0)
  @Max(2 ** 31 - 1)
  seed?: number;

  /** Seconds before a running generation is stopped with status `timeout`. */
  @IsTimeoutSeconds(GENERATOR_DEFAULT_TIMEOUT_S)
  timeout?: number;
}

export class BatchGenerateItemDto extends GenerateModelRequestDto {}

export class BatchGenerateRequestDto {
  @IsArray()
  @ArrayNotEmpty()
  @ArrayMaxSize(64)
  @IsObject({ each: true })
  @ValidateNested({ each: true })
  @Type(() => BatchGenerateItemDto)
  models: BatchGenerateItemDto[];
}

export class GenerateAcceptedDto extends AcceptedDto {
  task_id: string;
  model_name: string;
  /** Where the implementation will be written. */
  output_dir: string;
}

export class BatchGenerateAcceptedDto {
  tasks: GenerateAcceptedDto[];
}

export class GenerationResultsDto {
  task_id: string;
  model_name: string;
  family: string;
  /** The generated TypeScript implementation. */
  file_path: string;
  js_path: string;
  spec_path: string;
  onnx_path: string;
  manifest_path: string;
  @ApiProperty({ type: 'object', additionalProperties: true })
  manifest: Record<string, unknown>;
  /** CIDv1 of manifest.json. */
  cid: string;
  template: string;
  parameters: number;
  bytes_written: number;
  weights: 'random' | 'safetensors';
  precision: string;
  /** int4: values per quantization block. */
  block_size?: number;
  /** The head that was built (optimum task name). */
  @ApiProperty({ enum: TASKS })
  task: Task;
  /** Whether the graph takes and returns a KV cache (past_key_values.* in, present.* out). */
  kv_cache: boolean;
  /** The graph flavour that was built. */
  @ApiProperty({ enum: ['portable', 'optimized'] })
  graph: 'portable' | 'optimized';
  /** Label names by class index (classification heads), when the checkpoint's config has them. */
  @ApiPropertyOptional({ type: 'object', additionalProperties: { type: 'string' } })
  id2label?: Record<string, string>;
}

export class TemplateVariableDto {
  name: string;
  @ApiProperty({ enum: ['string', 'integer', 'number', 'boolean', 'enum'] })
  type: 'string' | 'integer' | 'number' | 'boolean' | 'enum';
  description: string;
  /** The value used when the request gives none. */
  @ApiProperty({ oneOf: [{ type: 'string' }, { type: 'number' }, { type: 'boolean' }] })
  default: string | number | boolean;
  /** Allowed values, for `enum`. */
  values?: string[];
  /** Inclusive lower bound, for `integer` and `number`. */
  min?: number;
  /** Inclusive upper bound, for `integer` and `number`. */
  max?: number;
}

export class TemplateDto {
  name: string;
  family: string;
  backends: string[];
  variables: TemplateVariableDto[];
  description: string;
}

export class PoolingDto {
  @ApiProperty({ enum: ['mean', 'cls', 'max', 'mean_sqrt_len'] })
  mode: PoolingSpec['mode'];
  normalize: boolean;
}

export class ModelListingDto {
  id: string;
  family: string;
  model_type: string;
  /** The head built by default: the task the checkpoint's architectures name. */
  @ApiProperty({ enum: TASKS })
  task: Task;
  /** Every task the generator can build for this model. */
  @ApiProperty({ enum: TASKS, isArray: true })
  tasks: Task[];
  /** sentence-transformers pooling (its graph adds a `sentence_embedding` output). */
  @ApiPropertyOptional({ type: PoolingDto })
  pooling?: PoolingDto;
  /** Parameters of the graph built by default (with its head). */
  parameters: number;
  fp32_bytes: number;
}

export class GenerationListDto {
  items: OperationStatusDto[];
  @ApiProperty({ type: String, nullable: true })
  next_cursor: string | null;
}
