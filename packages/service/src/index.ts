export * from './log/logger';
export * from './start/broker-hint';
export * from './start/command-line';
export * from './start/host';
export * from './start/lifecycle';
export * from './start/start-service';
export * from './metrics';
export * from './chores/periodic-sweep';
