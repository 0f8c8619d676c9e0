/** Generator core (rendering half): templates, rendering, type-checking, manifest, loader. */
export { slugify, assertSlug, MAX_SLUG_LENGTH, SLUG_PATTERN } from './slug';
export {
  FAMILIES,
  isFamily,
  listTemplates,
  selectTemplate,
  resolveTemplateContext,
  jsLiteral,
  type Family,
  type TemplateInfo,
  type TemplateVariable,
  type TemplateVariableType,
  type TemplateValue,
} from './templates';
export {
  renderImplementation,
  inputRole,
  type RenderOptions,
  type RenderResult,
  type GeneratedInputRole,
} from './render';
export { typecheckAndCompile, hostNodeModules, type CompileOptions, type CompileResult } from './compile';
export {
  loadGeneratedImplementation,
  loadGeneratedModule,
  checkImplementation,
  type GeneratedModule,
} from './loader';
export {
  MANIFEST_FILE,
  GENERATOR_NAME,
  cidOfBytes,
  cidOfFile,
  cidFromSha256,
  verifyManifest,
  generatorVersion,
  type GenerationManifest,
  type ManifestFile,
  type VerifyResult,
} from './manifest';
export {
  generateImplementation,
  tokenizerVocabSize,
  ONNX_FILE,
  ONNX_DATA_FILE,
  TOKENIZER_FILE,
  TOKENIZER_CONFIG_FILE,
  type GenerateOptions,
  type GenerateResult,
} from './generate';
export { readOnnxIo } from '../models/onnx-file';
export { runGenerationPipeline, type PipelineOptions, type PipelineResult } from './pipeline';
export {
  ModelCache,
  ensureGenerated,
  cachedModelDir,
  type CacheEntry,
  type CacheLease,
  type ModelCacheOptions,
} from './model-cache';
export {
  folderState,
  readOwnManifest,
  reservedOutputReason,
  assertWritableTarget,
  swapIn,
  RESERVED_MODEL_DIRS,
  type FolderState,
} from './ownership';
