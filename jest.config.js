/** Two projects: unit specs beside the code, e2e specs under test/ against a real app. */
const tsJest = ['ts-jest', { tsconfig: 'tsconfig.spec.json', diagnostics: false }];
const common = {
  moduleFileExtensions: ['js', 'json', 'ts', 'mjs'],
  testEnvironment: 'node',
  // Our TypeScript through ts-jest; ESM-only packages (NestJS 12, multiformats, ...) through a
  // small ESM→CommonJS transformer, since Jest on Node 20 cannot require ESM natively.
  transform: {
    '^.+\\.ts$': tsJest,
    '/node_modules/.+\\.m?js$': '<rootDir>/test/esm-transformer.js',
  },
  transformIgnorePatterns: [],
  moduleNameMapper: {
    // src/swagger-metadata.ts imports the DTOs with NodeNext-style .js specifiers.
    '^(\\.{1,2}/.*\\.(dto|controller))\\.js$': '$1',
    '^multiformats/(.*)$': '<rootDir>/node_modules/multiformats/dist/src/$1.js',
  },
  setupFiles: ['<rootDir>/test/setup-env.js'],
};
module.exports = {
  projects: [
    { ...common, displayName: 'unit', rootDir: __dirname, testMatch: ['<rootDir>/{src,libs}/**/*.spec.ts'] },
    { ...common, displayName: 'e2e', rootDir: __dirname, testMatch: ['<rootDir>/test/**/*.e2e-spec.ts'] },
  ],
};
