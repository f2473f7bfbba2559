import { LeaderReplicas } from '../../core/partition/leaderReplicas';

const LAG = 30_000;

test('the high watermark is the lowest log end in the ISR; a lagging follower is proposed out, then back in', () => {
  const r = new LeaderReplicas(1, [1, 2, 3], [1, 2, 3], 0);
  expect(r.isr).toEqual([1, 2, 3]);
  // Before followers fetch, nothing beyond 0 is known to be replicated.
  expect(r.highWatermark(120n)).toBe(0n);
  expect(r.updateFollowerFetch(2, 120n, 120n, 1_000)).toBe('ok');
  expect(r.updateFollowerFetch(3, 95n, 120n, 1_000)).toBe('ok');
  expect(r.highWatermark(120n)).toBe(95n);
  expect(r.proposeShrink(20_000, LAG)).toBeNull();
  // Follower 2 keeps fetching from the end; 3 stops. Past the lag, 3 is proposed out.
  r.updateFollowerFetch(2, 130n, 130n, 25_000);
  expect(r.proposeShrink(30_001, LAG)).toEqual([1, 2]);
  r.setIsr([1, 2]);
  expect(r.highWatermark(130n)).toBe(130n);
  // 3 catches up to the high watermark and the epoch start: proposed back.
  r.updateFollowerFetch(3, 120n, 130n, 31_000);
  expect(r.proposeExpand(130n, 0n)).toBeNull();
  r.updateFollowerFetch(3, 130n, 130n, 32_000);
  expect(r.proposeExpand(130n, 0n)).toEqual([1, 2, 3]);
  expect(r.proposeExpand(130n, 200n)).toBeNull(); // not yet holding the current epoch's start
});

test('caught up as of a fetch from the leader\'s end, or as of the previous fetch when it reached the end then', () => {
  const r = new LeaderReplicas(1, [1, 2], [1, 2], 0);
  r.updateFollowerFetch(2, 50n, 100n, 10_000); // behind: not caught up
  expect(r.follower(2)!.lastCaughtUpTimeMs).toBe(0);
  r.updateFollowerFetch(2, 100n, 140n, 20_000); // reached where the leader ended at the last fetch
  expect(r.follower(2)!.lastCaughtUpTimeMs).toBe(10_000);
  r.updateFollowerFetch(2, 140n, 140n, 21_000); // at the end now
  expect(r.follower(2)!.lastCaughtUpTimeMs).toBe(21_000);
  expect(r.proposeShrink(50_000, LAG)).toBeNull();
  expect(r.proposeShrink(51_001, LAG)).toEqual([1]);
});

test('fetches from brokers outside the assignment are refused; the leader is always in sync', () => {
  const r = new LeaderReplicas(1, [1, 2], [2], 0);
  expect(r.isr).toEqual([1, 2]);
  expect(r.replicas).toEqual([1, 2]);
  expect(r.updateFollowerFetch(7, 10n, 10n, 5)).toBe('not-a-replica');
  r.setIsr([]);
  expect(r.isr).toEqual([1]);
  expect(r.highWatermark(42n)).toBe(42n);
  // A follower outside the ISR at start is not caught up: it must show it.
  const fresh = new LeaderReplicas(1, [1, 2, 3], [1, 2], 0);
  expect(fresh.follower(3)!.lastCaughtUpTimeMs).toBe(0);
  expect(fresh.proposeShrink(LAG + 1, LAG)).toEqual([1]);
});
