export * from './types';
export * from './compare';
export * from './golden';
export * from './junit';
export * from './run-tests';
