/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.test.json' }] },
  testMatch: ['**/*.test.ts'],
  globalSetup: '<rootDir>/test/helpers/globalSetup.ts',
  testTimeout: 60000,
  // Two cores: integration files each run a broker plus clients.
  maxWorkers: 2,
};
