export * from './broker-connection';
export * from './confirm-publisher';
export * from './declare-topology';
export * from './slots';
export * from './types';
