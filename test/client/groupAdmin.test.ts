import { StrataClient } from '../../core/client/client';
import { ErrorCode } from '../../core/protocol/errorCodes';
import { API_MESSAGES, ApiKey } from '../../core/protocol/generated/index';
import { FakeBroker, FakeBrokerOptions, HookResult } from './fakeBroker';

/**
 * StrataClient's group calls against a fake broker: coordinator discovery and the retry when
 * the coordinator moved, both layouts of OffsetFetch (v8+ per group, older flat), and how
 * versions without a feature are refused. (The same calls against the real coordinator run in
 * groupConsumer.test.ts and test/integration/consumerGroupsCli.test.ts.)
 */

let broker: FakeBroker;
let client: StrataClient;
const seen: Array<{ api: number; version: number; req: any }> = [];
let script: (api: number, version: number, req: any) => HookResult;

async function start(opts: FakeBrokerOptions = {}): Promise<void> {
  broker = await FakeBroker.start({
    ...opts,
    hook: (h, req) => {
      if (h.apiKey !== ApiKey.ApiVersions && h.apiKey !== ApiKey.Metadata) seen.push({ api: h.apiKey, version: h.apiVersion, req });
      return script(h.apiKey, h.apiVersion, req);
    },
  });
  client = new StrataClient({ bootstrapServers: [broker.bootstrap], retryBackoffMs: 1 });
}

afterEach(async () => {
  seen.length = 0;
  await client.close();
  await broker.close();
});

const coordinatorAnswer = (req: any) => ({
  response: {
    throttleTimeMs: 0,
    errorCode: 0,
    errorMessage: null,
    nodeId: 0,
    host: '127.0.0.1',
    port: broker.port,
    coordinators: (req.coordinatorKeys ?? []).map((key: string) => ({ key, nodeId: 0, host: '127.0.0.1', port: broker.port, errorCode: 0, errorMessage: null })),
  },
});

const versions = (overrides: Array<[number, [number, number]]>): Map<number, [number, number]> => {
  const m = new Map<number, [number, number]>();
  for (const [k, api] of API_MESSAGES) m.set(k, [api.minVersion, api.latestVersionUnstable ? api.maxVersion - 1 : api.maxVersion]);
  for (const [k, r] of overrides) m.set(k, r);
  return m;
};

describe('StrataClient group calls', () => {
  it('finds the coordinator once, and again (then retries) when it answers NOT_COORDINATOR', async () => {
    let commits = 0;
    script = (api, _v, req) => {
      if (api === ApiKey.FindCoordinator) return coordinatorAnswer(req);
      if (api === ApiKey.OffsetCommit) {
        const code = commits++ === 0 ? ErrorCode.NOT_COORDINATOR : ErrorCode.NONE;
        return { response: { throttleTimeMs: 0, topics: req.topics.map((t: any) => ({ name: t.name, partitions: t.partitions.map((p: any) => ({ partitionIndex: p.partitionIndex, errorCode: code })) })) } };
      }
      return undefined;
    };
    await start();
    await client.offsetCommit('g', [{ topic: 't', partition: 0, offset: 5n, metadata: 'm' }]);
    await client.offsetCommit('g', [{ topic: 't', partition: 0, offset: 6n }]);
    expect(seen.map((s) => s.api)).toEqual([ApiKey.FindCoordinator, ApiKey.OffsetCommit, ApiKey.FindCoordinator, ApiKey.OffsetCommit, ApiKey.OffsetCommit]);
    expect(seen[1].req).toMatchObject({ groupId: 'g', generationIdOrMemberEpoch: -1, memberId: '', topics: [{ name: 't', partitions: [{ partitionIndex: 0, committedOffset: 5n, committedMetadata: 'm' }] }] });
  });

  it.each([
    ['v8+ (per group)', undefined],
    ['v7 (flat)', versions([[ApiKey.OffsetFetch, [0, 7]]])],
  ])('reads OffsetFetch %s: sorted, without partitions lacking an offset', async (_name, v) => {
    script = (api, version, req) => {
      if (api === ApiKey.FindCoordinator) return coordinatorAnswer(req);
      if (api === ApiKey.OffsetFetch) {
        const topics = [
          { name: 'b', partitions: [{ partitionIndex: 1, committedOffset: 7n, committedLeaderEpoch: 2, metadata: 'x', errorCode: 0 }] },
          {
            name: 'a',
            partitions: [
              { partitionIndex: 3, committedOffset: -1n, committedLeaderEpoch: -1, metadata: '', errorCode: 0 },
              { partitionIndex: 0, committedOffset: 4n, committedLeaderEpoch: -1, metadata: null, errorCode: 0 },
            ],
          },
        ];
        return { response: version >= 8 ? { throttleTimeMs: 0, groups: [{ groupId: 'g', topics, errorCode: 0 }] } : { throttleTimeMs: 0, topics, errorCode: 0 } };
      }
      return undefined;
    };
    await start({ versions: v });
    expect(await client.offsetFetch('g', null)).toEqual([
      { topic: 'a', partition: 0, offset: 4n, leaderEpoch: -1, metadata: null },
      { topic: 'b', partition: 1, offset: 7n, leaderEpoch: 2, metadata: 'x' },
    ]);
    const req = seen.find((s) => s.api === ApiKey.OffsetFetch)!;
    if (req.version >= 8) expect(req.req.groups).toEqual([{ groupId: 'g', memberId: null, memberEpoch: -1, topics: null }]);
    else expect(req.req).toMatchObject({ groupId: 'g', topics: null });
  });

  it('waits out UNSTABLE_OFFSET_COMMIT (open transactions) when asked for stable offsets', async () => {
    let calls = 0;
    script = (api, _v, req) => {
      if (api === ApiKey.FindCoordinator) return coordinatorAnswer(req);
      if (api === ApiKey.OffsetFetch) {
        const errorCode = calls++ < 2 ? ErrorCode.UNSTABLE_OFFSET_COMMIT : 0;
        const topics = [{ name: 't', partitions: [{ partitionIndex: 0, committedOffset: errorCode ? -1n : 9n, committedLeaderEpoch: -1, metadata: '', errorCode }] }];
        return { response: { throttleTimeMs: 0, groups: [{ groupId: 'g', topics, errorCode: 0 }] } };
      }
      return undefined;
    };
    await start();
    expect(await client.offsetFetch('g', [{ topic: 't', partition: 0 }], { requireStable: true })).toEqual([{ topic: 't', partition: 0, offset: 9n, leaderEpoch: -1, metadata: '' }]);
    expect(seen.filter((s) => s.api === ApiKey.OffsetFetch).map((s) => s.req.requireStable)).toEqual([true, true, true]);
  });

  it('describes an unknown group as Dead (GROUP_ID_NOT_FOUND) and throws other errors', async () => {
    script = (api, _v, req) => {
      if (api === ApiKey.FindCoordinator) return coordinatorAnswer(req);
      if (api === ApiKey.DescribeGroups) {
        const g = req.groups[0];
        const errorCode = g === 'gone' ? ErrorCode.GROUP_ID_NOT_FOUND : ErrorCode.GROUP_AUTHORIZATION_FAILED;
        return { response: { throttleTimeMs: 0, groups: [{ errorCode, groupId: g, groupState: '', protocolType: '', protocolData: '', members: [] }] } };
      }
      return undefined;
    };
    await start();
    expect(await client.describeGroups(['gone'])).toEqual([
      { groupId: 'gone', state: 'Dead', protocolType: '', protocol: '', members: [], coordinator: { nodeId: 0, host: '127.0.0.1', port: broker.port, rack: null } },
    ]);
    await expect(client.describeGroups(['secret'])).rejects.toMatchObject({ errorCode: ErrorCode.GROUP_AUTHORIZATION_FAILED });
  });

  it('lists groups of every broker, and refuses a state filter the broker cannot apply (ListGroups < v4)', async () => {
    script = (api) => {
      if (api === ApiKey.ListGroups) {
        return { response: { throttleTimeMs: 0, errorCode: 0, groups: [{ groupId: 'z', protocolType: 'consumer', groupState: 'Stable' }, { groupId: 'a', protocolType: '', groupState: 'Empty' }] } };
      }
      return undefined;
    };
    await start({ versions: versions([[ApiKey.ListGroups, [0, 3]]]) });
    expect(await client.listGroups()).toEqual([
      { groupId: 'a', protocolType: '', state: null },
      { groupId: 'z', protocolType: 'consumer', state: null },
    ]);
    await expect(client.listGroups({ states: ['Stable'] })).rejects.toMatchObject({ code: 'API_UNSUPPORTED' });
  });

  it('leaves with one member id before LeaveGroup v3, and refuses batches there', async () => {
    script = (api, _v, req) => {
      if (api === ApiKey.FindCoordinator) return coordinatorAnswer(req);
      if (api === ApiKey.LeaveGroup) return { response: { throttleTimeMs: 0, errorCode: 0, members: [] } };
      return undefined;
    };
    await start({ versions: versions([[ApiKey.LeaveGroup, [0, 2]]]) });
    expect(await client.leaveGroup('g', [{ memberId: 'm-1' }])).toEqual({ errorCode: 0, members: [] });
    expect(seen.find((s) => s.api === ApiKey.LeaveGroup)!.req).toMatchObject({ groupId: 'g', memberId: 'm-1' });
    await expect(client.leaveGroup('g', [{ memberId: 'a' }, { memberId: 'b' }])).rejects.toMatchObject({ code: 'API_UNSUPPORTED' });
  });
});
