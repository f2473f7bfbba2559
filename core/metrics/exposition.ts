/**
 * Prometheus text exposition format 0.0.4: the escaping and number rules of one sample line.
 *
 *   # HELP strata_requests_total Requests handled, by Kafka API.
 *   # TYPE strata_requests_total counter
 *   strata_requests_total{request="Produce"} 42
 *
 * HELP text escapes `\` and newline; label values escape `\`, `"` and newline; values are Go
 * floats (`NaN`, `+Inf`, `-Inf`), and a bigint is written exactly (a 64-bit offset stays exact
 * in the text, whatever the scraper's float64 makes of it).
 */
export const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

export function isValidMetricName(name: string): boolean {
  return METRIC_NAME.test(name);
}

/** Label names starting with `__` are reserved for Prometheus itself. */
export function isValidLabelName(name: string): boolean {
  return LABEL_NAME.test(name) && !name.startsWith('__');
}

export function escapeHelp(text: string): string {
  return text.replace(/[\\\n]/g, (c) => (c === '\\' ? '\\\\' : '\\n'));
}

export function escapeLabelValue(value: string): string {
  return value.replace(/[\\"\n]/g, (c) => (c === '\\' ? '\\\\' : c === '"' ? '\\"' : '\\n'));
}

export function formatValue(v: number | bigint): string {
  if (typeof v === 'bigint') return v.toString();
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

/** `{a="x",b="y"}`, or '' without labels. `values` pairs with `names` by position. */
export function formatLabels(names: readonly string[], values: readonly string[]): string {
  if (names.length === 0) return '';
  let out = '{';
  for (let i = 0; i < names.length; i++) {
    if (i > 0) out += ',';
    out += `${names[i]}="${escapeLabelValue(values[i])}"`;
  }
  return out + '}';
}
