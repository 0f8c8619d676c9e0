/**
 * Jest (on Node 20) cannot load ESM-only packages such as NestJS 12 without
 * --experimental-vm-modules on Node >= 24.9. This transformer turns those packages'
 * ESM into CommonJS with TypeScript's transpiler, replacing `import.meta` (which has no
 * CommonJS form) by its file-URL equivalent. Only node_modules files that are ESM reach it.
 */
const ts = require('typescript');
const crypto = require('crypto');
const fs = require('fs');
const path = require('path');

const typeCache = new Map();
/** Whether a file is ESM: .mjs, or .js under a package.json with "type": "module". */
function isEsm(filename) {
  if (filename.endsWith('.mjs')) return true;
  if (filename.endsWith('.cjs')) return false;
  let dir = path.dirname(filename);
  const seen = [];
  while (dir !== path.dirname(dir)) {
    if (typeCache.has(dir)) break;
    seen.push(dir);
    const pkg = path.join(dir, 'package.json');
    if (fs.existsSync(pkg)) {
      let type = 'commonjs';
      try {
        type = JSON.parse(fs.readFileSync(pkg, 'utf8')).type || 'commonjs';
      } catch {
        /* unreadable package.json: treat as CommonJS */
      }
      typeCache.set(dir, type === 'module');
      break;
    }
    dir = path.dirname(dir);
  }
  const result = typeCache.get(dir) ?? false;
  for (const d of seen) typeCache.set(d, result);
  return result;
}

const IMPORT_META = /\bimport\.meta\.(url|dirname|filename|resolve)\b/g;
const REPLACEMENT = {
  url: "require('url').pathToFileURL(__filename).href",
  dirname: '__dirname',
  filename: '__filename',
  // @nestjs/terminus checks optional peers with import.meta.resolve (CommonJS: require.resolve).
  resolve: 'require.resolve',
};

module.exports = {
  process(source, filename) {
    if (!isEsm(filename)) return { code: source };
    let code = source;
    // ESM modules may declare their own `require` (createRequire); in CommonJS that name is taken.
    if (/\b(const|let|var)\s+require\b/.test(code)) code = code.replace(/\brequire\b/g, '__esmRequire');
    code = code.replace(IMPORT_META, (_, key) => REPLACEMENT[key]);
    const out = ts.transpileModule(code, {
      fileName: filename,
      compilerOptions: {
        module: ts.ModuleKind.CommonJS,
        target: ts.ScriptTarget.ES2022,
        allowJs: true,
        esModuleInterop: true,
        sourceMap: false,
      },
    });
    return { code: out.outputText };
  },
  getCacheKey(source, filename) {
    return crypto
      .createHash('sha1')
      .update('esm-transformer-v5')
      .update(filename)
      .update(source)
      .digest('hex');
  },
};
