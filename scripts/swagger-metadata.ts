/**
 * Writes src/swagger-metadata.ts: the OpenAPI metadata that @nestjs/swagger's CLI plugin derives
 * from the DTOs and controllers (types, optionality, defaults, class-validator rules, comments).
 * `nest build` applies the plugin itself; Jest and ts-node transpile file by file, where the
 * plugin cannot run, so the same metadata is generated here and loaded at start-up.
 */
import { PluginMetadataGenerator } from '@nestjs/cli/lib/compiler/plugins/plugin-metadata-generator.js';
import { ReadonlyVisitor } from '@nestjs/swagger/plugin';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const src = join(__dirname, '..', 'src');
const file = join(src, 'swagger-metadata.ts');
// The generator type-checks the project first: an earlier output must not be part of it.
rmSync(file, { force: true });
new PluginMetadataGenerator().generate({
  visitors: [
    new ReadonlyVisitor({
      introspectComments: true,
      classValidatorShim: true,
      dtoFileNameSuffix: ['.dto.ts'],
      pathToSource: src,
    }),
  ],
  outputDir: src,
  filename: 'swagger-metadata.ts',
  tsconfigPath: 'tsconfig.json',
  printDiagnostics: false,
});

// The generator writes dynamic `import("./x")`. Under NodeNext rules tsc wants `.js` on those, and
// Node then loads them through its ESM loader, which ts-node's require hook never sees: started with
// ts-node the load failed and the document lost three quarters of its properties. CommonJS
// `require("./x")` resolves to x.ts under ts-node and Jest and to x.js in dist, so every way of
// starting the server reads the same metadata.
writeFileSync(
  file,
  readFileSync(file, 'utf8').replace(/import\("(\.\/[^"]+?)(?:\.js)?"\)/g, 'Promise.resolve(require("$1"))'),
);
