/**
 * Poll for an outcome with a hard deadline. Tests wait for *what they expect to observe*
 * (a record is readable, a file exists, a process exited), never for a fixed amount of time.
 */

export interface WaitForOptions {
  /** Give up after this long. Default 10 s. */
  timeoutMs?: number;
  /** Pause between attempts. Default 50 ms. */
  intervalMs?: number;
  /** What was being waited for; leads the timeout error. */
  message?: string;
}

export class WaitForTimeoutError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'WaitForTimeoutError';
  }
}

/**
 * Resolves as soon as `predicate` returns true. A predicate that throws counts as "not yet"
 * (the last error is reported on timeout). One that never settles cannot outlive the deadline:
 * each attempt is raced against the time left.
 */
export async function waitFor(
  predicate: () => Promise<boolean> | boolean,
  opts: WaitForOptions = {},
): Promise<void> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const intervalMs = opts.intervalMs ?? 50;
  const deadline = Date.now() + timeoutMs;
  let attempts = 0;
  let lastError: unknown;

  for (;;) {
    attempts++;
    const left = deadline - Date.now();
    const outcome = await raceDeadline(predicate, Math.max(left, 0));
    if (outcome.kind === 'value' && outcome.value === true) return;
    if (outcome.kind === 'error') lastError = outcome.error;

    const remaining = deadline - Date.now();
    if (remaining <= 0) {
      const what = opts.message ?? 'condition';
      const last =
        lastError === undefined
          ? outcome.kind === 'pending'
            ? '; the last attempt was still running'
            : ''
          : `; last error: ${lastError instanceof Error ? lastError.message : String(lastError)}`;
      throw new WaitForTimeoutError(`waitFor timed out after ${timeoutMs} ms (${attempts} attempts): ${what}${last}`, {
        cause: lastError,
      });
    }
    await pause(Math.min(intervalMs, remaining));
  }
}

type Outcome = { kind: 'value'; value: boolean } | { kind: 'error'; error: unknown } | { kind: 'pending' };

async function raceDeadline(predicate: () => Promise<boolean> | boolean, ms: number): Promise<Outcome> {
  let timer: NodeJS.Timeout | undefined;
  const attempt = (async (): Promise<Outcome> => {
    try {
      return { kind: 'value', value: (await predicate()) === true };
    } catch (error) {
      return { kind: 'error', error };
    }
  })();
  const expiry = new Promise<Outcome>((resolve) => {
    timer = setTimeout(() => resolve({ kind: 'pending' }), ms);
  });
  try {
    return await Promise.race([attempt, expiry]);
  } finally {
    clearTimeout(timer);
  }
}

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
