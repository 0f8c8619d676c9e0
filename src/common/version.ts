import pkg from '../../package.json';

/** The package version, reported by /health, the OpenAPI document and generated manifests. */
export const VERSION: string = pkg.version;
