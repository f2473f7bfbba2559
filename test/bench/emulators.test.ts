import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { parseLauncherOutput, startEmulators } from '../../bench/emulators';
import { REPO_ROOT } from '../helpers/build';
import { waitFor } from '../helpers/waitFor';

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('bench emulators', () => {
  it('reads the launcher\'s exports only once it says ready', () => {
    const head = '# Strata AWS emulators: s3rver\nexport AWS_ENDPOINT_URL_S3=http://127.0.0.1:1234\nexport AWS_REGION=us-east-1\n';
    expect(parseLauncherOutput(head)).toBeNull();
    expect(parseLauncherOutput(`${head}# Ctrl-C stops the emulators.\n# ready\n`)).toEqual({
      AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:1234',
      AWS_REGION: 'us-east-1',
    });
  });

  it('starts dynalite and s3rver on ephemeral ports with the table and bucket, and stops both', async () => {
    const work = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-bench-emu-'));
    try {
      const emu = await startEmulators({ root: REPO_ROOT, workDir: work, tablePrefix: 'bt', bucket: 'bench-bucket', prefix: 'p' });
      try {
        expect(emu.metadataUrl).toBe('dynamodb://bt');
        expect(emu.objectStoreUrl).toBe('s3://bench-bucket/p');
        expect(emu.env.AWS_ENDPOINT_URL_S3).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
        expect(emu.env.AWS_ENDPOINT_URL_DYNAMODB).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
        expect(emu.env.AWS_ENDPOINT_URL_S3).not.toBe(emu.env.AWS_ENDPOINT_URL_DYNAMODB);
        // The bucket exists: s3rver keeps it as a directory of its data dir, under the work dir.
        const [s3Dir] = fs.readdirSync(work).filter((n) => n.startsWith('s3rver-'));
        expect(fs.existsSync(path.join(work, s3Dir!, 'bench-bucket'))).toBe(true);
        expect(alive(emu.s3Pid) && alive(emu.dynamoPid)).toBe(true);
        // The pid is the serving process itself (no re-exec), so its CPU time is s3rver's.
        expect(fs.readFileSync(`/proc/${emu.s3Pid}/cmdline`, 'utf8')).toContain('emulators.mjs');
      } finally {
        await emu.stop();
        await emu.stop(); // idempotent
      }
      await waitFor(() => !alive(emu.s3Pid) && !alive(emu.dynamoPid), { timeoutMs: 10_000, message: 'emulators gone' });
      expect(fs.readdirSync(work)).toEqual([]); // s3rver's data dir removed
    } finally {
      fs.rmSync(work, { recursive: true, force: true });
    }
  }, 60_000);

  it('fails clearly when the launcher is missing', async () => {
    const work = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-bench-emu-'));
    try {
      await expect(startEmulators({ root: work, workDir: work })).rejects.toThrow(/emulators\.mjs not found/);
      expect(fs.readdirSync(work)).toEqual([]);
    } finally {
      fs.rmSync(work, { recursive: true, force: true });
    }
  });
});
