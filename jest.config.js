/** Two projects: unit specs beside the code, e2e specs under test/ against a real app. */
const tsJest = ['ts-jest', { tsconfig: 'tsconfig.json', isolatedModules: true, diagnostics: false }];
const common = {
  moduleFileExtensions: ['js', 'json', 'ts', 'mjs'],
  testEnvironment: 'node',
  // multiformats ships ESM only: let ts-jest turn them into CommonJS.
  transform: { '^.+\\.(t|j|mj)s$': tsJest },
  transformIgnorePatterns: ['/node_modules/(?!multiformats/)'],
  moduleNameMapper: { '^multiformats/(.*)$': '<rootDir>/node_modules/multiformats/dist/src/$1.js' },
  setupFiles: ['<rootDir>/test/setup-env.js'],
};
module.exports = {
  projects: [
    { ...common, displayName: 'unit', rootDir: __dirname, testMatch: ['<rootDir>/{src,libs}/**/*.spec.ts'] },
    { ...common, displayName: 'e2e', rootDir: __dirname, testMatch: ['<rootDir>/test/**/*.e2e-spec.ts'] },
  ],
};
