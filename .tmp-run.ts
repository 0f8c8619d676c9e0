import { createBackends } from './libs/core/src/backends';
import { loadResolvedModel } from './libs/core/src/models/load';
import { resolveModelPath } from './libs/core/src/models/paths';
import { runModelTests } from './libs/core/src/testing';
(async () => {
  const backends = createBackends(['cpu', 'webgpu', 'cuda']);
  const type = (process.argv[2] ?? 'comprehensive') as any;
  for (const name of (process.argv[3] ?? 'bert,distilbert,gpt2,llama,vit').split(',')) {
    const r = resolveModelPath(name, ['/work/shared/fixtures/hf-tiny']);
    const model = await loadResolvedModel(r, name);
    const t = Date.now();
    const res = await runModelTests({ modelName: name, model, goldenPath: r.goldenPath, hardware: ['cpu', 'webgpu', 'cuda'], testType: type }, { backends }, { signal: new AbortController().signal, onProgress: () => {} });
    console.log(name, res.status, res.summary, Date.now() - t, 'ms', JSON.stringify(res.performance_metrics));
    for (const d of res.test_details) if (d.backend !== 'cuda' && (d.duration_ms > 300 || process.argv[4])) console.log('  ', d.backend, d.name, d.status, d.duration_ms, d.message?.slice(0, 200), process.argv[4] ? JSON.stringify(d.metrics)?.slice(0, 300) : '');
  }
})();
