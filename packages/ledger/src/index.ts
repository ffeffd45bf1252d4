export * from './batcher';
export * from './database';
export * from './errors';
export * from './ledger';
export * from './migrate';
export * from './migrate-database';
export * from './states';
export * from './types';
