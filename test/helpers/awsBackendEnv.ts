/**
 * setupFiles of the `aws` jest project (jest.config.js): runs before each test file and
 * selects the AWS backend for the brokers startBroker launches (test/helpers/awsBackend.ts).
 */
process.env.STRATA_TEST_BACKEND = 'aws';
