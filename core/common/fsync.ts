import { promises as fs } from 'node:fs';

/** fsyncs a directory, so a rename or link inside it survives a machine crash. */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await fs.open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
