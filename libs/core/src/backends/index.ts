export * from './ort-backend';
export * from './device-info';
export * from './tiny-model';
