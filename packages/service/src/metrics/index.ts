export * from './http';
export * from './registry';
export { Counter, Gauge, Histogram, Registry } from 'prom-client';
