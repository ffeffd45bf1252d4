export * from './keys';
export * from './parsed';
export * from './shared-keys';
