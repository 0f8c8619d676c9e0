// WebGPU through Mesa's software Vulkan driver needs a runtime dir; set it once for every spec.
if (!process.env.XDG_RUNTIME_DIR) {
  const dir = require('path').join(require('os').tmpdir(), 'xdg-runtime');
  require('fs').mkdirSync(dir, { recursive: true, mode: 0o700 });
  process.env.XDG_RUNTIME_DIR = dir;
}
