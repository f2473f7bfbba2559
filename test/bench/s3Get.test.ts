import { PutObjectCommand } from '@aws-sdk/client-s3';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { BenchEmulators, startEmulators } from '../../bench/emulators';
import { chunkRanges, listObjects, rangedGets, s3Client, S3Target } from '../../bench/s3Get';
import { REPO_ROOT } from '../helpers/build';

describe('chunkRanges', () => {
  it('covers each object in inclusive ranges of the chunk size, the last one shorter', () => {
    expect(chunkRanges([{ key: 'a', size: 10 }, { key: 'b', size: 4 }, { key: 'c', size: 0 }], 4)).toEqual([
      { key: 'a', start: 0, end: 3 },
      { key: 'a', start: 4, end: 7 },
      { key: 'a', start: 8, end: 9 },
      { key: 'b', start: 0, end: 3 },
    ]);
  });
});

describe('ranged GETs against s3rver', () => {
  let work: string;
  let emu: BenchEmulators;
  let target: S3Target;

  beforeAll(async () => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-bench-s3get-'));
    emu = await startEmulators({ root: REPO_ROOT, workDir: work, bucket: 'getbench', prefix: 'tier' });
    target = {
      endpoint: emu.s3Endpoint,
      region: emu.env.AWS_REGION!,
      accessKeyId: emu.env.AWS_ACCESS_KEY_ID!,
      secretAccessKey: emu.env.AWS_SECRET_ACCESS_KEY!,
      bucket: emu.bucket,
      prefix: 'tier/',
      suffix: '.log',
    };
    const client = s3Client(target);
    try {
      for (const [key, size] of [['tier/t/0/a.log', 300_000], ['tier/t/0/a.index', 5000], ['tier/t/0/b.log', 100_001], ['other/c.log', 7]] as const) {
        await client.send(new PutObjectCommand({ Bucket: emu.bucket, Key: key, Body: Buffer.alloc(size, 7) }));
      }
    } finally {
      client.destroy();
    }
  }, 60_000);

  afterAll(async () => {
    await emu?.stop();
    fs.rmSync(work, { recursive: true, force: true });
  });

  it('lists only the keys under the prefix with the suffix', async () => {
    const client = s3Client(target);
    try {
      expect(await listObjects(client, target)).toEqual([
        { key: 'tier/t/0/a.log', size: 300_000 },
        { key: 'tier/t/0/b.log', size: 100_001 },
      ]);
    } finally {
      client.destroy();
    }
  });

  it.each([1, 3])('reads every byte of them in chunk-size GETs, %i in flight', async (inFlight) => {
    const r = await rangedGets(target, 64 * 1024, inFlight);
    expect(r).toMatchObject({ bytes: 400_001, objects: 2, gets: 5 + 2, chunkBytes: 65_536, inFlight });
    expect(r.seconds).toBeGreaterThan(0);
    expect(r.mbPerSec).toBeCloseTo(r.bytes / r.seconds / 1e6, 6);
    expect(r.name).toBe(`S3 emulator ranged GET, 65536 B, ${inFlight} in flight`);
  });

  it('fails when there is nothing to read rather than timing nothing', async () => {
    await expect(rangedGets({ ...target, prefix: 'nothing/' }, 65_536, 1)).rejects.toThrow(/no objects under s3:\/\/getbench\/nothing\//);
  });
});
