export * from './broker';
export * from './management';
export * from './tcp-proxy';
export * from './process';
export * from './private-postgres';
export * from './private-rabbitmq';
export * from './scratch-database';
export * from './until';
