/**
 * Two projects, one run (`npm test`):
 * - embedded: every test, brokers on the embedded metadata store and local disk only;
 * - aws: the integration suite again, brokers on DynamoDB and S3 emulators (dynalite, s3rver)
 *   started per test file (test/helpers/awsBackend.ts). Files that pick their own stores run once.
 * `npx jest --selectProjects embedded` (or aws) runs one of them.
 */
const base = {
  testEnvironment: 'node',
  rootDir: __dirname,
  roots: ['<rootDir>/test'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.test.json' }] },
};

/** Integration files that already run on the emulators, or whose subject is the local disk alone. */
const AWS_PROJECT_SKIPS = [
  'awsBackends', // its own emulators, table and bucket set-up checks
  'tierOutage', // stops its own S3 emulator
  'compactionMillion', // the cleaner works on local segments; one run of 1M records is enough
  'brokerLease', // its own emulators: brokers sharing one table
  'npmStart', // the start script on embedded defaults
  'diskFull', // mounts its own tmpfs data directory; the metadata store's ENOSPC handling is the embedded store's
  'leaderPartitioned', // its own emulators: the victim reaches DynamoDB through a proxy the test cuts
];

/** @type {import('jest').Config} */
module.exports = {
  globalSetup: '<rootDir>/test/helpers/globalSetup.ts',
  // Two cores: integration files each run a broker plus clients.
  maxWorkers: 2,
  projects: [
    { ...base, displayName: 'embedded', testMatch: ['**/*.test.ts'] },
    {
      ...base,
      displayName: 'aws',
      testMatch: ['<rootDir>/test/integration/**/*.test.ts'],
      testPathIgnorePatterns: ['/node_modules/', ...AWS_PROJECT_SKIPS.map((n) => `/${n}\\.test\\.ts$`)],
      setupFiles: ['<rootDir>/test/helpers/awsBackendEnv.ts'],
    },
  ],
  testTimeout: 60000,
};
