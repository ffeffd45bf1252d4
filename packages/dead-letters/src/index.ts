export * from './dead-letters';
export * from './replay';
export * from './message-properties';
