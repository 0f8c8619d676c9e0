/**
 * Writes src/swagger-metadata.ts: the OpenAPI metadata that @nestjs/swagger's CLI plugin derives
 * from the DTOs and controllers (types, optionality, defaults, class-validator rules, comments).
 * `nest build` applies the plugin itself; Jest and ts-node transpile file by file, where the
 * plugin cannot run, so the same metadata is generated here and loaded at start-up.
 */
import { PluginMetadataGenerator } from '@nestjs/cli/lib/compiler/plugins/plugin-metadata-generator.js';
import { ReadonlyVisitor } from '@nestjs/swagger/plugin';
import { join } from 'node:path';

const src = join(__dirname, '..', 'src');
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
