export * from './broker-connection';
export * from './confirm-publisher';
export * from './slots';
export * from './types';
