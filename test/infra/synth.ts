import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import { buildStrata, type StrataStacks } from '../../infra/lib/app';
import { OFFLINE_SETTINGS, environmentsFrom, type SettingName } from '../../infra/lib/environments';

/**
 * The CDK app as `npm run synth` builds it (infra/cdk.json's feature flags, the offline
 * settings), for assertions. Asset bundling is skipped (the mirror function's esbuild run; the
 * one test that bundles asks for it) and the broker image is a registry reference, so no Docker
 * build context is staged: a synthesis takes a few seconds.
 */
export const REPO_ROOT = path.resolve(__dirname, '..', '..');

export interface SynthOptions {
  /** Settings over OFFLINE_SETTINGS. */
  settings?: Partial<Record<SettingName, string>>;
  /** Bundle the mirror function for real (default false). */
  bundle?: boolean;
  /** The repository's Dockerfile as the image (default: a registry image). */
  dockerAsset?: boolean;
  outdir?: string;
}

export interface Synthesized {
  app: App;
  stacks: StrataStacks;
  template(stack: Stack): Template;
}

export function cdkJsonContext(): Record<string, unknown> {
  return (JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'infra', 'cdk.json'), 'utf8')) as { context: Record<string, unknown> }).context;
}

/** Cloud assemblies written by this test file's syntheses, removed after its tests. */
const outdirs: string[] = [];
afterAll(() => {
  for (const dir of outdirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

export function synthStrata(opts: SynthOptions = {}): Synthesized {
  let outdir = opts.outdir;
  if (outdir === undefined) outdirs.push((outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-cdk-'))));
  const app = new App({
    context: { ...cdkJsonContext(), ...(opts.bundle ? {} : { 'aws:cdk:bundling-stacks': [] }) },
    outdir,
  });
  const settings: Partial<Record<SettingName, string>> = { ...OFFLINE_SETTINGS, ...opts.settings };
  const envs = environmentsFrom((name) => settings[name], (file) => fs.readFileSync(file, 'utf8'));
  const stacks = buildStrata(app, envs, {
    nag: false,
    ...(opts.dockerAsset ? {} : { image: ecs.ContainerImage.fromRegistry('public.ecr.aws/example/strata:test') }),
  });
  const templates = new Map<Stack, Template>();
  return {
    app,
    stacks,
    template: (stack) => {
      let t = templates.get(stack);
      if (!t) templates.set(stack, (t = Template.fromStack(stack)));
      return t;
    },
  };
}

/** Every stack of a build, by name. */
export function allStacks(stacks: StrataStacks): Stack[] {
  const out: Stack[] = [stacks.primary.stateful, stacks.primary.brokers];
  if (stacks.mirror) out.push(stacks.mirror.stateful, stacks.mirror.brokers, stacks.mirror.function);
  return out;
}

/**
 * A CloudFormation value with its intrinsics replaced, for feeding configuration to the code
 * that will read it: Fn::Join is joined, any other intrinsic (a reference to another resource or
 * stack) becomes `placeholder(intrinsic)`.
 */
export function renderValue(value: unknown, placeholder: (intrinsic: Record<string, unknown>) => string = () => 'resolved-at-deploy'): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (value !== null && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    if (Array.isArray(o['Fn::Join'])) {
      const [sep, parts] = o['Fn::Join'] as [string, unknown[]];
      return parts.map((p) => renderValue(p, placeholder)).join(sep);
    }
    return placeholder(o);
  }
  throw new Error(`cannot render ${JSON.stringify(value)}`);
}

/** The resources of a type in a template, by logical id. */
export function resourcesOf(template: Template, type: string): Record<string, { Properties: Record<string, unknown>; DependsOn?: string[]; DeletionPolicy?: string; UpdateReplacePolicy?: string }> {
  return template.findResources(type) as ReturnType<typeof resourcesOf>;
}
