/** Benchmark core: measure, compare and export; framework-free. */
export * from './types';
export * from './stats';
export { captureEnvironment, readGitCommit, onnxruntimeVersionString } from './environment';
export {
  runBenchmark,
  resolveSettings,
  hasSequenceAxis,
  configurationLabel,
  seededSentences,
  METRIC_DEFINITIONS,
  DEFAULT_SETTINGS,
  type BenchmarkDeps,
} from './runner';
export { createDefaultDeps, loadModelRef, type DefaultDepsOptions } from './deps';
export { runBenchmarkIsolated, type IsolatedOptions } from './isolated';
export { compareRuns, type CompareOptions } from './compare';
export { toCsv, toMarkdown, environmentLine, CSV_COLUMNS } from './export';
