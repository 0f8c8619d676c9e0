// WebGPU through Mesa's software Vulkan driver needs a runtime dir; set it once for every spec.
if (!process.env.XDG_RUNTIME_DIR) {
  const dir = require('path').join(require('os').tmpdir(), 'xdg-runtime');
  require('fs').mkdirSync(dir, { recursive: true, mode: 0o700 });
  process.env.XDG_RUNTIME_DIR = dir;
}

// Jest runs each spec in its own vm realm, whose typed-array constructors differ from the host's;
// onnxruntime-node creates output arrays in the host realm and onnxruntime-common's Tensor then
// rejects them. Using the host's constructors everywhere makes both realms agree.
const { runInThisContext } = require('vm');
for (const name of [
  'Int8Array',
  'Uint8Array',
  'Uint8ClampedArray',
  'Int16Array',
  'Uint16Array',
  'Int32Array',
  'Uint32Array',
  'Float32Array',
  'Float64Array',
  'BigInt64Array',
  'BigUint64Array',
]) {
  const host = runInThisContext(name);
  if (globalThis[name] !== host) globalThis[name] = host;
}
