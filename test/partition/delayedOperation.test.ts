import { DelayedOperationPurgatory, type DelayedOperation } from '../../core/partition/delayedOperation';

/** An operation that completes once `ready` is set; records how it completed. */
function op(): DelayedOperation & { ready: boolean; completions: boolean[]; tries: number } {
  const o = {
    ready: false,
    completions: [] as boolean[],
    tries: 0,
    tryComplete(): boolean {
      o.tries++;
      return o.ready;
    },
    onComplete(expired: boolean): void {
      o.completions.push(expired);
    },
  };
  return o;
}

describe('DelayedOperationPurgatory', () => {
  let purgatory: DelayedOperationPurgatory;
  beforeEach(() => {
    purgatory = new DelayedOperationPurgatory('test');
  });
  afterEach(() => purgatory.close());

  it('completes an operation that can complete at once without watching', () => {
    const o = op();
    o.ready = true;
    expect(purgatory.tryCompleteElseWatch(o, ['a'], 1000)).toBe(true);
    expect(o.completions).toEqual([false]);
    expect(purgatory.size).toBe(0);
  });

  it('completes a watched operation on an event of any of its keys, exactly once', () => {
    const o = op();
    expect(purgatory.tryCompleteElseWatch(o, ['a', 'b'], 60_000)).toBe(false);
    expect(purgatory.size).toBe(1);
    expect(purgatory.checkAndComplete('b')).toBe(0); // not ready yet: stays
    expect(o.completions).toEqual([]);
    o.ready = true;
    expect(purgatory.checkAndComplete('c')).toBe(0); // not watched
    expect(purgatory.checkAndComplete('b')).toBe(1);
    expect(purgatory.checkAndComplete('a')).toBe(0); // gone from every key
    expect(o.completions).toEqual([false]);
    expect(purgatory.size).toBe(0);
  });

  it('expires an operation at its deadline', async () => {
    const o = op();
    const done = new Promise<void>((resolve) => {
      const inner = o.onComplete;
      o.onComplete = (expired) => {
        inner(expired);
        resolve();
      };
    });
    purgatory.tryCompleteElseWatch(o, ['a'], 20);
    await done;
    expect(o.completions).toEqual([true]);
    expect(purgatory.checkAndComplete('a')).toBe(0);
  });

  it('an operation completed by an event never expires later', async () => {
    jest.useFakeTimers();
    try {
      const o = op();
      purgatory.tryCompleteElseWatch(o, ['a'], 100);
      o.ready = true;
      purgatory.checkAndComplete('a');
      jest.advanceTimersByTime(1000);
      expect(o.completions).toEqual([false]);
    } finally {
      jest.useRealTimers();
    }
  });

  it('close completes waiting operations as expired and refuses to wait afterwards', () => {
    const a = op();
    const b = op();
    purgatory.tryCompleteElseWatch(a, ['x'], 60_000);
    purgatory.tryCompleteElseWatch(b, ['x', 'y'], 60_000);
    purgatory.close();
    expect(a.completions).toEqual([true]);
    expect(b.completions).toEqual([true]);
    const c = op();
    expect(purgatory.tryCompleteElseWatch(c, ['x'], 60_000)).toBe(true);
    expect(c.completions).toEqual([true]);
  });

  it('many operations on one key: each completes once, in any order of readiness', () => {
    const ops = Array.from({ length: 50 }, () => op());
    for (const o of ops) purgatory.tryCompleteElseWatch(o, ['k'], 60_000);
    ops.forEach((o, i) => (o.ready = i % 2 === 0));
    expect(purgatory.checkAndComplete('k')).toBe(25);
    for (const o of ops) o.ready = true;
    expect(purgatory.checkAndComplete('k')).toBe(25);
    expect(ops.every((o) => o.completions.length === 1 && o.completions[0] === false)).toBe(true);
  });
});
