import { existsSync, realpathSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { Injectable } from '@nestjs/common';
import { CoreError, ErrorCode } from '../../../libs/core/src/errors';
import {
  assertWritableTarget,
  reservedOutputReason,
  resolveTemplateContext,
  selectTemplate,
  slugify,
  swapIn,
} from '../../../libs/core/src/generator';
import { isInside, realRoots } from '../../../libs/core/src/models/paths';
import {
  confineEntry,
  confineWrite,
  mkdirConfined,
  removeConfined,
  tempSibling,
} from '../../../libs/core/src/models/write-paths';
import { findModel, resolveModel, ResolvedModel } from '../../../libs/core/src/models/registry';
import { checkGraphFlavour, checkKvCache, type GraphFlavour } from '../../../libs/core/src/onnx';
import type { Task } from '../../../libs/core/src/onnx/tasks';
import type { GeneratedPrecision } from '../../../libs/core/src/models/precision';
import type { BackendName, RunContext } from '../../../libs/core/src/types';
import { BudgetService } from '../../common/admission/budget.service';
import { AppConfig } from '../../common/config/app-config';
import { InjectConfig } from '../../common/config/config.module';
import { TaskThreads } from '../../common/hardware/task-threads.service';
import { JobName } from '../../common/jobs/job.types';
import { OperationRecord } from '../../common/operations/operation.types';
import { AdmissionService } from '../../common/operations/admission.service';
import { OperationsService } from '../../common/operations/operations.service';
import { GENERATOR_DEFAULT_TIMEOUT_S, GenerateModelRequestDto, GenerationResultsDto } from './generator.dto';

export interface GenerationSpec {
  model_name: string;
  hardware: BackendName[];
  output_dir?: string;
  force?: boolean;
  template_type?: string;
  template_context?: Record<string, unknown>;
  weights: 'auto' | 'random' | 'safetensors';
  precision: GeneratedPrecision;
  block_size?: number;
  task?: Task;
  kv_cache?: boolean;
  graph?: GraphFlavour;
  seed?: number;
}

/** From a model id (or a local config folder) to a verified ONNX graph and a compiled implementation. */
@Injectable()
export class GeneratorService {
  constructor(
    private readonly operations: OperationsService,
    @InjectConfig() private readonly config: AppConfig,
    private readonly threads: TaskThreads,
    private readonly admission: AdmissionService,
    private readonly budgets: BudgetService,
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

  /**
   * The output folder (lexical, for answers) and where it really is (its folder's symlinks
   * resolved), confined to DATA_DIR/models: `..`, the reserved `.cache`, our temporary names and a
   * symlink anywhere in the chain that leads outside are refused (422 PATH_OUTSIDE_ROOTS).
   */
  outputDir(spec: Pick<GenerationSpec, 'output_dir'>, source: ResolvedModel): { dir: string; real: string } {
    const base = resolve(this.modelsDir);
    const name = spec.output_dir ?? slugify(source.dir ? basename(source.dir) : source.id);
    const dir = resolve(base, name);
    const rel = relative(base, dir);
    if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) {
      throw new CoreError(
        ErrorCode.PATH_OUTSIDE_ROOTS,
        'output_dir must be a folder inside DATA_DIR/models',
        {
          output_dir: name,
        },
      );
    }
    const reserved = reservedOutputReason(rel);
    if (reserved) {
      throw new CoreError(ErrorCode.PATH_OUTSIDE_ROOTS, `output_dir ${name}: ${reserved}`, {
        output_dir: name,
      });
    }
    // DATA_DIR/models itself must really be inside DATA_DIR, and the output inside it.
    confineWrite(this.config.dataDir, base, 'DATA_DIR/models');
    const real = confineEntry(base, dir, `output_dir ${name}`);
    // A symlink at the output itself must not lead outside either (it is never replaced: 409).
    confineWrite(base, dir, `output_dir ${name}`);
    return { dir, real };
  }

  /** A folder as answers name it: relative to DATA_DIR. */
  private shown(dir: string): string {
    return relative(this.config.dataDir, dir);
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
  validate(spec: GenerationSpec): { source: ResolvedModel; outDir: string; realOutDir: string } {
    const source = this.resolveSource(spec.model_name);
    const outDir = this.outputDir(spec, source);
    this.weightsOf(spec, source);
    checkKvCache(source.config, spec.task, spec.kv_cache);
    checkGraphFlavour(source.config, spec.graph, spec.hardware);
    if (spec.block_size !== undefined && spec.precision !== 'int4') {
      throw new CoreError(
        ErrorCode.UNPROCESSABLE,
        `block_size applies to precision int4 only, not ${spec.precision}`,
        { field: 'block_size' },
      );
    }
    const template = selectTemplate(source.family, spec.hardware, spec.template_type);
    resolveTemplateContext(template, spec.template_context);
    assertWritableTarget(outDir.real, { replaceOurs: !!spec.force, shown: this.shown(outDir.dir) });
    return { source, outDir: outDir.dir, realOutDir: outDir.real };
  }

  /**
   * The request as stored, with its deadline (400 above MAX_OPERATION_S). `hardware` names the
   * backends the implementation is written for; generating needs none of them here, so it is not
   * checked against the detected backends.
   */
  private admitted(request: GenerateModelRequestDto): GenerateModelRequestDto {
    return { ...request, timeout: this.admission.timeout(request.timeout, GENERATOR_DEFAULT_TIMEOUT_S) };
  }

  async start(request: GenerateModelRequestDto): Promise<{ op: OperationRecord; outDir: string }> {
    const admitted = this.admitted(request);
    const { source, outDir } = this.validate(request);
    this.budgets.admitGenerations([{ ...request, config: source.config }]);
    const op = await this.operations.start(JobName.GeneratorModel, request.model_name, { ...admitted });
    return { op, outDir };
  }

  async startBatch(
    requests: GenerateModelRequestDto[],
  ): Promise<Array<{ op: OperationRecord; outDir: string }>> {
    // Validate all before accepting any: a bad item changes nothing.
    const admitted = requests.map((r) => this.admitted(r));
    const checked = requests.map((r) => this.validate(r));
    const dirs = checked.map((c) => c.outDir);
    this.budgets.admitGenerations(requests.map((r, i) => ({ ...r, config: checked[i]!.source.config })));
    if (new Set(checked.map((c) => c.realOutDir)).size !== dirs.length)
      throw new CoreError(ErrorCode.VALIDATION, 'two items of the batch write to the same output_dir');
    // One admission for the whole batch: its items count together against the queue's depth.
    const ops = await this.operations.startMany(
      JobName.GeneratorModel,
      admitted.map((r) => ({ modelName: r.model_name, request: { ...r } })),
    );
    return ops.map((op, i) => ({ op, outDir: dirs[i]! }));
  }

  /** Build the graph, then render, type-check and compile the implementation, then the manifest. */
  async generate(spec: GenerationSpec, ctx: RunContext): Promise<Omit<GenerationResultsDto, 'task_id'>> {
    const source = this.resolveSource(spec.model_name);
    // Checked again: the tree may have changed since the task was accepted.
    const { dir: outDir, real } = this.outputDir(spec, source);
    const weights = this.weightsOf(spec, source);
    const swap = { replaceOurs: !!spec.force, shown: this.shown(outDir) };
    assertWritableTarget(real, swap);
    // Built beside the target and swapped in when complete: a failed or cancelled (re)generation
    // leaves the previous model as it was, and its own files are removed.
    const root = this.modelsDir;
    mkdirConfined(root, dirname(real), swap.shown);
    const tmp = tempSibling(real);
    let built;
    try {
      built = await this.threads.run(
        'generate',
        {
          source,
          outDir: tmp,
          slug: slugify(basename(outDir)),
          weights,
          precision: spec.precision,
          blockSize: spec.block_size,
          task: spec.task,
          kvCache: spec.kv_cache,
          graph: spec.graph,
          seed: spec.seed,
          backends: spec.hardware,
          template: spec.template_type,
          templateContext: spec.template_context,
        },
        ctx,
      );
      swapIn(root, tmp, real, swap);
    } catch (err) {
      removeConfined(root, tmp);
      throw err;
    }
    const moved = (p: string): string => join(outDir, relative(tmp, p));
    const generated = {
      ...built,
      filePath: moved(built.filePath),
      jsPath: moved(built.jsPath),
      specPath: moved(built.specPath),
      onnxPath: moved(built.onnxPath),
      manifestPath: moved(built.manifestPath),
    };
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
      ...(generated.manifest.block_size !== undefined ? { block_size: generated.manifest.block_size } : {}),
      task: (generated.manifest.task ?? source.task) as Task,
      kv_cache: generated.manifest.kv_cache,
      graph: generated.manifest.graph,
      ...(generated.manifest.id2label ? { id2label: generated.manifest.id2label } : {}),
    };
  }
}
