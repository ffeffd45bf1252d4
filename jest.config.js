/** @type {import('jest').Config} */
const shared = {
  transform: { '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2023' } }] },
  moduleNameMapper: {
    '^@mailer/(contract|config|service|amqp|dead-letters|ledger|testkit)$': '<rootDir>/packages/$1/src/index.ts',
  },
  testEnvironment: 'node',
  rootDir: __dirname,
};

/** Unit tests sit beside the code; integration tests against real servers sit in test/. */
module.exports = {
  projects: [
    { ...shared, displayName: 'unit', testMatch: ['<rootDir>/packages/*/src/**/*.test.ts'] },
    {
      ...shared,
      displayName: 'integration',
      testMatch: ['<rootDir>/packages/*/test/**/*.integration.test.ts'],
      slowTestThreshold: 30,
    },
    // Heavy (a private three-node RabbitMQ cluster): only with `pnpm test:cluster`, see docs/cluster.md.
    ...(process.env['MAILER_CLUSTER_TESTS'] === '1'
      ? [
          {
            ...shared,
            displayName: 'cluster',
            testMatch: ['<rootDir>/packages/*/test/**/*.cluster.test.ts'],
            testTimeout: 600_000,
          },
        ]
      : []),
  ],
  maxWorkers: 2,
  testTimeout: 60_000,
};
