export * from './broker';
export * from './management';
export * from './tcp-proxy';
export * from './process';
