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
  MAX_ROUNDS,
  DEFAULT_MAX_NEW_TOKENS,
  type BenchmarkDeps,
} from './runner';
export { createDefaultDeps, loadModelRef, type DefaultDepsOptions } from './deps';
export { runBenchmarkIsolated, type IsolatedOptions } from './isolated';
export {
  compareRuns,
  pairedComparisons,
  roundValues,
  DEFAULT_STATISTIC,
  ROUND_STATISTICS,
  DEFAULT_THRESHOLD,
  DEFAULT_CONFIDENCE,
  DEFAULT_RUN_NOISE_CV,
  MIN_HISTORY_RUNS,
  type CompareOptions,
} from './compare';
export {
  unpairedRatio,
  pairedRatio,
  decide,
  formatInterval,
  tQuantile,
  runNoiseFromHistory,
  withinRunVariance,
  type RunNoise,
  type RatioInterval,
  type RatioDecision,
  type RatioVerdict,
} from './ratio';
export {
  toCsv,
  toMarkdown,
  toJUnit,
  comparisonMarkdown,
  pairedMarkdown,
  environmentLine,
  CSV_COLUMNS,
} from './export';
