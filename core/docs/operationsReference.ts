import { COMMANDS } from '../cli/main';
import { formatUsage } from '../cli/args';
import { renderConfigDocs } from '../config/brokerConfig';

export const BEGIN_MARK = '<!-- BEGIN GENERATED REFERENCE: `npm run docs` rewrites this block from the code -->';
export const END_MARK = '<!-- END GENERATED REFERENCE -->';

/**
 * The reference part of docs/operations.md, rendered from the CLI specs and the config
 * registries themselves, so the docs cannot drift from the code (a test compares them).
 */
export function renderOperationsReference(): string {
  const parts: string[] = ['## Commands', ''];
  for (const [name, c] of COMMANDS) {
    parts.push(`### strata ${name}`, '', '```text', formatUsage(c.spec).trimEnd(), '```', '');
  }
  parts.push(renderConfigDocs().trimEnd(), '');
  return parts.join('\n');
}

/** Replaces the generated block of `doc` (between the marks) with the current reference. */
export function spliceOperationsReference(doc: string): string {
  const begin = doc.indexOf(BEGIN_MARK);
  const end = doc.indexOf(END_MARK);
  if (begin < 0 || end < begin) throw new Error(`docs/operations.md must contain the marks ${BEGIN_MARK} ... ${END_MARK}`);
  return `${doc.slice(0, begin + BEGIN_MARK.length)}\n\n${renderOperationsReference()}\n${doc.slice(end)}`;
}
