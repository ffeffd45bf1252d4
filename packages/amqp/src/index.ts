export * from './broker-connection';
export * from './confirm-publisher';
export * from './declare-topology';
export * from './nodes';
export * from './slots';
export * from './types';
