import { createLogger } from '../../core/common/logger';
import { formatTransition } from '../../core/group/coordinator';
import type { GroupState } from '../../core/group/groupState';
import { parseTransition, TransitionLog, type LineSource } from '../../bench/groupTransitions';

/** A broker log line exactly as the coordinator writes it (real logger, real formatter). */
function brokerLine(groupId: string, from: GroupState, to: GroupState, generation: number, members: number, reason?: string): string {
  let line = '';
  createLogger('broker/groups', (l) => (line = l)).info(formatTransition(groupId, from, to, generation, members) + (reason ? ` (${reason})` : ''));
  return line;
}

/** Lines pushed by the test, as brokerProcess.onLine would deliver them. */
class FakeSource implements LineSource {
  private listeners = new Set<(line: string) => void>();
  onLine(l: (line: string) => void): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }
  emit(line: string): void {
    for (const l of this.listeners) l(line);
  }
  get subscribed(): number {
    return this.listeners.size;
  }
}

describe('parseTransition', () => {
  it('reads the coordinator\'s line: broker timestamp, group id, states, generation, members', () => {
    const before = Date.now();
    const t = parseTransition(brokerLine('g-1', 'Stable', 'PreparingRebalance', 3, 4, 'member m-1 left the group'), 7);
    expect(t).toMatchObject({ seq: 7, groupId: 'g-1', from: 'Stable', to: 'PreparingRebalance', generation: 3, members: 4 });
    expect(t!.atMs).toBeGreaterThanOrEqual(before - 1);
    expect(t!.atMs).toBeLessThanOrEqual(Date.now());
  });

  it('keeps odd group ids intact (quotes, spaces, arrows)', () => {
    const id = 'a "quoted" group → with spaces';
    expect(parseTransition(brokerLine(id, 'Empty', 'PreparingRebalance', 0, 1))!.groupId).toBe(id);
  });

  it('ignores every other line', () => {
    expect(parseTransition('2025-01-01T00:00:00.000Z INFO  [broker] listening on PLAINTEXT://127.0.0.1:9092')).toBeNull();
    expect(parseTransition('group "g" Stable → PreparingRebalance generation 1 members 2')).toBeNull(); // no timestamp
    expect(parseTransition('')).toBeNull();
  });
});

describe('TransitionLog', () => {
  it('resolves on the first matching transition at or after the cursor, as it is logged', async () => {
    const src = new FakeSource();
    const log = new TransitionLog(src);
    src.emit(brokerLine('g', 'CompletingRebalance', 'Stable', 1, 2));
    const cursor = log.cursor();
    expect(cursor).toBe(1);
    const waiting = log.waitFor('g', cursor, (t) => t.to === 'Stable', { timeoutMs: 5000, what: 'stable again' });
    src.emit('some unrelated line');
    src.emit(brokerLine('other', 'CompletingRebalance', 'Stable', 1, 1));
    src.emit(brokerLine('g', 'Stable', 'PreparingRebalance', 1, 1));
    src.emit(brokerLine('g', 'CompletingRebalance', 'Stable', 2, 1));
    await expect(waiting).resolves.toMatchObject({ seq: 3, groupId: 'g', generation: 2, members: 1 });
    // Already logged transitions count too (the wait may start after the line arrived).
    await expect(log.waitFor('g', 0, (t) => t.to === 'Stable', { timeoutMs: 10, what: 'x' })).resolves.toMatchObject({ seq: 0 });
    expect(log.since('g', 1).map((t) => t.seq)).toEqual([2, 3]);
    log.close();
    expect(src.subscribed).toBe(0);
  });

  it('fails fast on a transition the caller rules out, listing the group\'s transitions', async () => {
    const src = new FakeSource();
    const log = new TransitionLog(src);
    const waiting = log.waitFor('g', 0, (t) => t.to === 'Stable' && t.members === 2, {
      timeoutMs: 30_000,
      what: 'back to 2',
      fail: (t) => t.to === 'Stable',
    });
    src.emit(brokerLine('g', 'CompletingRebalance', 'Stable', 5, 1));
    await expect(waiting).rejects.toThrow(/^back to 2: unexpected .*CompletingRebalance → Stable generation 5 members 1; transitions:\n {2}.*Stable generation 5 members 1$/);
    log.close();
  });

  it('times out with what it saw', async () => {
    const src = new FakeSource();
    const log = new TransitionLog(src);
    src.emit(brokerLine('g', 'Empty', 'PreparingRebalance', 0, 1));
    await expect(log.waitFor('g', 0, (t) => t.to === 'Stable', { timeoutMs: 50, what: 'forming' })).rejects.toThrow(
      /^forming: not within 50 ms; transitions:\n.*Empty → PreparingRebalance generation 0 members 1/,
    );
    await expect(log.waitFor('nobody', 0, () => true, { timeoutMs: 20, what: 'w' })).rejects.toThrow(/\(none\)/);
    log.close();
  });

  it('keeps a bounded number of transitions but numbers them all', () => {
    const src = new FakeSource();
    const log = new TransitionLog(src);
    const line = brokerLine('g', 'Stable', 'PreparingRebalance', 1, 1);
    for (let i = 0; i < 10_050; i++) src.emit(line);
    expect(log.cursor()).toBe(10_050);
    const kept = log.since('g', 0);
    expect(kept.length).toBe(10_000);
    expect(kept[0]!.seq).toBe(50);
    log.close();
  });
});
