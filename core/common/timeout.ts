/** What `within` resolves to when the time ran out first. */
export const TIMED_OUT = Symbol('timed out');

/**
 * `p`'s value, or TIMED_OUT once `ms` passed first. `p` keeps running either way (a caller that
 * stops waiting decides what its outcome still means); its rejection, when it comes first,
 * rejects this too.
 */
export function within<T>(p: Promise<T>, ms: number): Promise<T | typeof TIMED_OUT> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<typeof TIMED_OUT>((resolve) => {
    timer = setTimeout(() => resolve(TIMED_OUT), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}
