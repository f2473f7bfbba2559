import { CHECKED_ENV, ensureBuilt } from './build';

/**
 * jest globalSetup (jest.config.js: `globalSetup: '<rootDir>/test/helpers/globalSetup.ts'`):
 * compile dist/ once before any test file runs, so integration tests start the current broker.
 * Skipped when nothing changed since the last build; STRATA_SKIP_BUILD=1 disables it entirely.
 *
 * Type errors don't abort the run: unit tests don't need dist/, and tsc still emits JavaScript.
 * They are reported here and again by startBroker if a broker then fails to start.
 */
export default async function globalSetup(): Promise<void> {
  const started = Date.now();
  const status = await ensureBuilt();
  if (status.rebuilt) {
    const ms = Date.now() - started;
    process.stderr.write(`\n[globalSetup] built dist/ with tsc in ${ms} ms${status.ok ? '' : ' — WITH ERRORS'}\n`);
  }
  if (!status.ok) process.stderr.write(`[globalSetup] tsc reported:\n${status.log.slice(0, 8000)}\n`);
  // Inherited by the workers jest starts next, so startBroker doesn't rebuild mid-run.
  process.env[CHECKED_ENV] = '1';
}
