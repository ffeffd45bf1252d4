export * from './email-request.schema';
export * from './envelope';
export * from './topology';
export * from './validation';
export * from './delivery';
export * from './publish-failure';
export * from './email-state';
export * from './email-view';
