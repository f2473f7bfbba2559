import { AssignorMember, GroupAssignment, compareMembers, rangeAssignor, roundRobinAssignor } from '../../core/client/assignors';

const member = (memberId: string, topics: string[], groupInstanceId: string | null = null): AssignorMember => ({ memberId, groupInstanceId, topics });

/** memberId → 't:0,1 u:2' for compact expectations. */
function summary(a: GroupAssignment): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [m, topics] of a) {
    out[m] = [...topics]
      .sort(([x], [y]) => (x < y ? -1 : 1))
      .map(([t, ps]) => `${t}:${ps.join(',')}`)
      .join(' ');
  }
  return out;
}

describe('range assignor', () => {
  it('gives each subscriber a contiguous range, the first ones one extra', () => {
    const a = rangeAssignor.assign([member('c', ['t']), member('a', ['t']), member('b', ['t'])], new Map([['t', 7]]));
    expect(summary(a)).toEqual({ a: 't:0,1,2', b: 't:3,4', c: 't:5,6' });
  });

  it("repeats the split per topic (Kafka's skew: the same members get the extras)", () => {
    const a = rangeAssignor.assign([member('m1', ['t0', 't1']), member('m2', ['t0', 't1'])], new Map([['t0', 3], ['t1', 3]]));
    expect(summary(a)).toEqual({ m1: 't0:0,1 t1:0,1', m2: 't0:2 t1:2' });
  });

  it('only splits a topic among its subscribers, and skips topics that do not exist', () => {
    const a = rangeAssignor.assign([member('a', ['t', 'u']), member('b', ['t']), member('c', ['gone'])], new Map([['t', 2], ['u', 3]]));
    expect(summary(a)).toEqual({ a: 't:0 u:0,1,2', b: 't:1', c: '' });
  });

  it('leaves extra members without partitions', () => {
    const a = rangeAssignor.assign([member('a', ['t']), member('b', ['t']), member('c', ['t']), member('d', ['t'])], new Map([['t', 3]]));
    expect(summary(a)).toEqual({ a: 't:0', b: 't:1', c: 't:2', d: '' });
  });

  it('orders static members first, by group.instance.id, so a restarted static member keeps its range', () => {
    const members = [member('aaa', ['t']), member('zzz-1', ['t'], 'inst-b'), member('yyy-2', ['t'], 'inst-a')];
    expect(summary(rangeAssignor.assign(members, new Map([['t', 3]])))).toEqual({ 'yyy-2': 't:0', 'zzz-1': 't:1', aaa: 't:2' });
    expect([...members].sort(compareMembers).map((m) => m.memberId)).toEqual(['yyy-2', 'zzz-1', 'aaa']);
  });
});

describe('roundrobin assignor', () => {
  it('deals all partitions of all topics out in turn', () => {
    const a = roundRobinAssignor.assign([member('b', ['t0', 't1']), member('a', ['t0', 't1'])], new Map([['t0', 3], ['t1', 3]]));
    // t0-0 a, t0-1 b, t0-2 a, t1-0 b, t1-1 a, t1-2 b: balanced across topics, unlike range.
    expect(summary(a)).toEqual({ a: 't0:0,2 t1:1', b: 't0:1 t1:0,2' });
  });

  it('skips members not subscribed to a partition\'s topic', () => {
    // Kafka's documented example: C0 [t0], C1 [t0, t1], C2 [t0, t1, t2]; t0 1 partition, t1 2, t2 3.
    const members = [member('C0', ['t0']), member('C1', ['t0', 't1']), member('C2', ['t0', 't1', 't2'])];
    const a = roundRobinAssignor.assign(members, new Map([['t0', 1], ['t1', 2], ['t2', 3]]));
    expect(summary(a)).toEqual({ C0: 't0:0', C1: 't1:0', C2: 't1:1 t2:0,1,2' });
  });

  it('assigns every existing partition exactly once', () => {
    const members = Array.from({ length: 5 }, (_, i) => member(`m${i}`, i % 2 ? ['a', 'b'] : ['a']));
    const counts = new Map([['a', 11], ['b', 4]]);
    const a = roundRobinAssignor.assign(members, counts);
    const all = [...a.values()].flatMap((topics) => [...topics].flatMap(([t, ps]) => ps.map((p) => `${t}-${p}`)));
    expect(all.sort()).toEqual([...Array.from({ length: 11 }, (_, p) => `a-${p}`), ...Array.from({ length: 4 }, (_, p) => `b-${p}`)].sort());
    // b's partitions only went to its subscribers.
    for (const [m, topics] of a) if (topics.has('b')) expect(['m1', 'm3']).toContain(m);
  });

  it('handles no members and empty topics', () => {
    expect(roundRobinAssignor.assign([], new Map([['t', 3]])).size).toBe(0);
    expect(summary(roundRobinAssignor.assign([member('a', ['t'])], new Map([['t', 0]])))).toEqual({ a: '' });
  });
});
