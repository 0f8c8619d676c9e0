import { existsSync, realpathSync, rmSync } from 'node:fs';
import { basename, isAbsolute, join, relative, resolve } from 'node:path';
import { Injectable } from '@nestjs/common';
import { CoreError, ErrorCode } from '../../../libs/core/src/errors';
import { resolveTemplateContext, selectTemplate, slugify } from '../../../libs/core/src/generator';
import { isInside, realRoots } from '../../../libs/core/src/models/paths';
import { findModel, resolveModel, ResolvedModel } from '../../../libs/core/src/models/registry';
import type { BackendName, RunContext } from '../../../libs/core/src/types';
import { AppConfig } from '../../common/config/app-config';
import { InjectConfig } from '../../common/config/config.module';
import { TaskThreads } from '../../common/hardware/task-threads.service';
import { JobName } from '../../common/jobs/job.types';
import { OperationRecord } from '../../common/operations/operation.types';
import { OperationsService } from '../../common/operations/operations.service';
import { GenerateModelRequestDto, GenerationResultsDto } from './generator.dto';

export interface GenerationSpec {
  model_name: string;
  hardware: BackendName[];
  output_dir?: string;
  force?: boolean;
  template_type?: string;
  template_context?: Record<string, unknown>;
  weights: 'auto' | 'random' | 'safetensors';
  precision: 'fp32' | 'fp16';
  seed?: number;
}

/** From a model id (or a local config folder) to a verified ONNX graph and a compiled implementation. */
@Injectable()
export class GeneratorService {
  constructor(
    private readonly operations: OperationsService,
    @InjectConfig() private readonly config: AppConfig,
    private readonly threads: TaskThreads,
  ) {}

  get modelsDir(): string {
    return join(this.config.dataDir, 'models');
  }

  /** A registry id, or a local folder with config.json inside the allowed roots. */
  resolveSource(name: string): ResolvedModel {
    if (findModel(name)) return resolveModel(name);
    const roots = realRoots([this.config.dataDir, ...this.config.modelRoots]);
    const candidates = isAbsolute(name) ? [resolve(name)] : roots.map((r) => resolve(r, name));
    for (const candidate of candidates) {
      if (!existsSync(candidate)) continue;
      const real = realpathSync(candidate);
      if (!roots.some((r) => isInside(r, real))) {
        throw new CoreError(
          ErrorCode.PATH_OUTSIDE_ROOTS,
          `${name} is outside the allowed model roots (DATA_DIR, MODEL_ROOTS)`,
        );
      }
      return resolveModel(real);
    }
    return resolveModel(name); // throws UNKNOWN_MODEL naming the supported families
  }

  /** The output folder, confined to DATA_DIR/models. */
  outputDir(spec: Pick<GenerationSpec, 'output_dir'>, source: ResolvedModel): string {
    const base = resolve(this.modelsDir);
    const dir = resolve(base, spec.output_dir ?? slugify(source.dir ? basename(source.dir) : source.id));
    const rel = relative(base, dir);
    if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) {
      throw new CoreError(ErrorCode.PATH_OUTSIDE_ROOTS, 'output_dir must be a folder inside DATA_DIR/models');
    }
    return dir;
  }

  weightsOf(spec: GenerationSpec, source: ResolvedModel): 'random' | 'safetensors' {
    const has = !!source.safetensorsPaths?.length;
    if (spec.weights === 'safetensors' && !has) {
      throw new CoreError(
        ErrorCode.UNPROCESSABLE,
        `${spec.model_name} has no local safetensors checkpoint; use weights "random" or pass a folder with model.safetensors`,
      );
    }
    if (spec.weights === 'auto') return has ? 'safetensors' : 'random';
    return spec.weights;
  }

  /** Everything a client can get wrong is checked here, before the task is accepted. */
  validate(spec: GenerationSpec): { source: ResolvedModel; outDir: string } {
    const source = this.resolveSource(spec.model_name);
    const outDir = this.outputDir(spec, source);
    this.weightsOf(spec, source);
    const template = selectTemplate(source.family, spec.hardware, spec.template_type);
    resolveTemplateContext(template, spec.template_context);
    if (!spec.force && existsSync(join(outDir, 'manifest.json'))) {
      throw new CoreError(
        ErrorCode.CONFLICT,
        `${relative(this.config.dataDir, outDir)} already holds a generated model; pass force: true to overwrite it`,
        {
          output_dir: outDir,
        },
      );
    }
    return { source, outDir };
  }

  async start(request: GenerateModelRequestDto): Promise<{ op: OperationRecord; outDir: string }> {
    const { outDir } = this.validate(request);
    const op = await this.operations.start(JobName.GeneratorModel, request.model_name, { ...request });
    return { op, outDir };
  }

  async startBatch(
    requests: GenerateModelRequestDto[],
  ): Promise<Array<{ op: OperationRecord; outDir: string }>> {
    // Validate all before accepting any: a bad item changes nothing.
    const dirs = requests.map((r) => this.validate(r).outDir);
    if (new Set(dirs).size !== dirs.length)
      throw new CoreError(ErrorCode.VALIDATION, 'two items of the batch write to the same output_dir');
    // One admission for the whole batch: its items count together against the queue's depth.
    const ops = await this.operations.startMany(
      JobName.GeneratorModel,
      requests.map((r) => ({ modelName: r.model_name, request: { ...r } })),
    );
    return ops.map((op, i) => ({ op, outDir: dirs[i]! }));
  }

  /** Build the graph, then render, type-check and compile the implementation, then the manifest. */
  async generate(spec: GenerationSpec, ctx: RunContext): Promise<Omit<GenerationResultsDto, 'task_id'>> {
    const source = this.resolveSource(spec.model_name);
    const outDir = this.outputDir(spec, source);
    const weights = this.weightsOf(spec, source);
    if (existsSync(outDir)) {
      if (!spec.force && existsSync(join(outDir, 'manifest.json'))) {
        throw new CoreError(ErrorCode.CONFLICT, `${outDir} already holds a generated model`);
      }
      rmSync(outDir, { recursive: true, force: true });
    }
    const generated = await this.threads.run(
      'generate',
      {
        source,
        outDir,
        weights,
        precision: spec.precision,
        seed: spec.seed,
        backends: spec.hardware,
        template: spec.template_type,
        templateContext: spec.template_context,
      },
      ctx,
    );
    return {
      model_name: spec.model_name,
      family: generated.family,
      file_path: generated.filePath,
      js_path: generated.jsPath,
      spec_path: generated.specPath,
      onnx_path: generated.onnxPath,
      manifest_path: generated.manifestPath,
      manifest: generated.manifest as unknown as Record<string, unknown>,
      cid: generated.cid,
      template: generated.template.name,
      parameters: generated.parameters,
      bytes_written: generated.bytesWritten,
      weights,
      precision: spec.precision,
    };
  }
}
