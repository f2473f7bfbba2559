import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { REPO_ROOT } from './synth';

/**
 * `npm run synth` itself, as CI and a user run it: the cdk CLI builds the app and writes every
 * stack's template, offline, with no AWS account or credentials in the environment (the output
 * goes to a temporary directory instead of cdk.out/).
 */
test('npm run synth writes every stack template with no AWS account', () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-synth-'));
  try {
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('AWS_') && !k.startsWith('CDK_')));
    const r = spawnSync('npm', ['run', '--silent', 'synth', '--', '-o', out], { cwd: REPO_ROOT, env: { ...env, AWS_EC2_METADATA_DISABLED: 'true' }, encoding: 'utf8', timeout: 150_000 });
    expect({ status: r.status, stderr: r.status === 0 ? '' : r.stderr }).toEqual({ status: 0, stderr: '' });
    const templates = fs.readdirSync(out).filter((f) => f.endsWith('.template.json')).sort();
    expect(templates).toEqual([
      'Strata-Mirror-Brokers.template.json',
      'Strata-Mirror-Function.template.json',
      'Strata-Mirror-Stateful.template.json',
      'Strata-Primary-Brokers.template.json',
      'Strata-Primary-Stateful.template.json',
    ]);
    for (const t of templates) {
      const body = JSON.parse(fs.readFileSync(path.join(out, t), 'utf8')) as { Resources: Record<string, unknown> };
      expect(Object.keys(body.Resources).length).toBeGreaterThan(0);
    }
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
}, 180_000);
