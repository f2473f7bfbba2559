import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * The repository root: the first directory above this file holding package.json. The same
 * answer from infra/lib (ts-jest) and from the compiled dist/infra/infra/lib (cdk synth).
 */
export function repoRoot(from: string = __dirname): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'package.json'))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`no package.json above ${from}`);
  }
}
