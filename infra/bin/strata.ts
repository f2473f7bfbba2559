#!/usr/bin/env node
import * as fs from 'node:fs';
import { App } from 'aws-cdk-lib';
import { buildStrata } from '../lib/app';
import { OFFLINE_SETTINGS, SETTINGS, environmentsFrom, type SettingName } from '../lib/environments';

/**
 * The CDK app's entry point: the only place that reads CDK context and environment variables.
 * Each setting (infra/lib/environments.ts, SETTINGS) comes from `-c strata:<name>=...` (or
 * cdk.json's context), else its environment variable where it has one; the primary account and
 * region fall back to the CLI's own (CDK_DEFAULT_ACCOUNT / CDK_DEFAULT_REGION).
 *
 * `-c strata:offline=true` (`npm run synth`) ignores the environment and uses the fixed, made-up
 * OFFLINE_SETTINGS for anything the context does not set: the same templates on every machine,
 * with no AWS account or credentials.
 */
const app = new App();
const offline = String(app.node.tryGetContext('strata:offline') ?? 'false') === 'true';

function setting(name: SettingName): string | undefined {
  const s = SETTINGS[name];
  const fromContext: unknown = app.node.tryGetContext(s.context);
  if (fromContext !== undefined && fromContext !== null && String(fromContext) !== '') return String(fromContext);
  if (offline) return OFFLINE_SETTINGS[name];
  const env = 'env' in s ? process.env[s.env] : undefined;
  if (env !== undefined && env !== '') return env;
  if (name === 'primaryAccount') return process.env.CDK_DEFAULT_ACCOUNT;
  if (name === 'primaryRegion') return process.env.CDK_DEFAULT_REGION;
  return undefined;
}

buildStrata(app, environmentsFrom(setting, (file) => fs.readFileSync(file, 'utf8')));
