/** The error `fn` throws (with its StrataError code, if any); fails the test when it does not throw. */
export function errorOf(fn: () => unknown): Error & { code?: string } {
  try {
    fn();
  } catch (e) {
    return e as Error & { code?: string };
  }
  throw new Error('expected an error');
}
