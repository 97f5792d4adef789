import { invalidRequest } from './simulator.errors.ts';

/**
 * Stripe's request encoding: `application/x-www-form-urlencoded` with bracketed keys
 * (`metadata[tenantId]=t`, `items[0][price]=price_pro_monthly`, `expand[]=customer`), used for
 * POST bodies and, for GET and DELETE, the query string. An empty value means "unset"
 * (`cancel_at=` clears it, `metadata[key]=` removes a key).
 */
export type ParamValue = string | ParamValue[] | ParamObject;
export interface ParamObject {
  [key: string]: ParamValue;
}

const forbiddenSegments = new Set(['__proto__', 'prototype', 'constructor']);

export function parseStripeForm(encoded: string): ParamObject {
  const root: ParamObject = Object.create(null) as ParamObject;
  if (!encoded) return root;
  for (const pair of encoded.split('&')) {
    if (!pair) continue;
    const eq = pair.indexOf('=');
    const rawKey = eq === -1 ? pair : pair.slice(0, eq);
    const rawValue = eq === -1 ? '' : pair.slice(eq + 1);
    const key = decodeComponent(rawKey);
    const value = decodeComponent(rawValue);
    const segments = keySegments(key);
    if (segments.some((s) => forbiddenSegments.has(s))) throw invalidRequest(`Invalid parameter name: ${key}`, { code: 'parameter_invalid' });
    assign(root, segments, value, key);
  }
  return arraysFromIndexedObjects(root) as ParamObject;
}

function decodeComponent(text: string): string {
  try {
    return decodeURIComponent(text.replace(/\+/g, ' '));
  } catch {
    throw invalidRequest('The request body could not be decoded as form data.', { code: 'parameter_invalid' });
  }
}

function keySegments(key: string): string[] {
  const open = key.indexOf('[');
  if (open === -1) return [key];
  const segments = [key.slice(0, open)];
  const rest = key.slice(open);
  const re = /\[([^\]]*)\]/g;
  let match: RegExpExecArray | null;
  while ((match = re.exec(rest))) segments.push(match[1] ?? '');
  return segments;
}

function assign(node: ParamObject, segments: string[], value: string, fullKey: string): void {
  let current: ParamObject = node;
  for (let i = 0; i < segments.length; i++) {
    let segment = segments[i] as string;
    const last = i === segments.length - 1;
    // `a[]=x&a[]=y` appends; it becomes a[0], a[1].
    if (segment === '') segment = String(Object.keys(current).length);
    if (last) {
      current[segment] = value;
      return;
    }
    const existing = current[segment];
    if (existing === undefined) {
      const child = Object.create(null) as ParamObject;
      current[segment] = child;
      current = child;
    } else if (typeof existing === 'object' && !Array.isArray(existing)) {
      current = existing;
    } else {
      throw invalidRequest(`Invalid value for ${fullKey}: the parameter is given both as a value and as a hash.`, { code: 'parameter_invalid' });
    }
  }
}

/** `{0: a, 1: b}` becomes `[a, b]`, recursively. */
function arraysFromIndexedObjects(value: ParamValue): ParamValue {
  if (typeof value === 'string' || Array.isArray(value)) return value;
  const keys = Object.keys(value);
  for (const key of keys) value[key] = arraysFromIndexedObjects(value[key] as ParamValue);
  if (keys.length > 0 && keys.every((k) => /^\d+$/.test(k))) {
    return keys
      .map(Number)
      .sort((a, b) => a - b)
      .map((i) => value[String(i)] as ParamValue);
  }
  return value;
}

/**
 * Typed, validating access to one level of parameters. Unknown keys are rejected as Stripe does
 * (`parameter_unknown`), which keeps Brigade honest about what the real API accepts.
 */
export class Params {
  constructor(
    readonly raw: ParamObject,
    private readonly prefix = '',
  ) {}

  static of(value: ParamValue | undefined, prefix: string): Params {
    if (value === undefined || value === '') return new Params(Object.create(null) as ParamObject, prefix);
    if (typeof value === 'string' || Array.isArray(value)) throw invalidRequest(`Invalid object: ${prefix} must be a hash.`, { code: 'parameter_invalid', param: prefix });
    return new Params(value, prefix);
  }

  name(key: string): string {
    return this.prefix ? `${this.prefix}[${key}]` : key;
  }

  /** Rejects keys outside `allowed`; `expand` is always allowed at the top level. */
  allowOnly(allowed: readonly string[]): this {
    for (const key of Object.keys(this.raw)) {
      if (key === 'expand' && !this.prefix) continue;
      if (!allowed.includes(key)) throw invalidRequest(`Received unknown parameter: ${this.name(key)}`, { code: 'parameter_unknown', param: this.name(key) });
    }
    return this;
  }

  has(key: string): boolean {
    return this.raw[key] !== undefined;
  }

  /** Present and empty: the caller asked to unset the field. */
  isEmpty(key: string): boolean {
    return this.raw[key] === '';
  }

  string(key: string): string | undefined {
    const value = this.raw[key];
    if (value === undefined) return undefined;
    if (typeof value !== 'string') throw invalidRequest(`Invalid string: ${this.name(key)}`, { code: 'parameter_invalid', param: this.name(key) });
    return value;
  }

  requiredString(key: string): string {
    const value = this.string(key);
    if (value === undefined || value === '') throw invalidRequest(`Missing required param: ${this.name(key)}.`, { code: 'parameter_missing', param: this.name(key) });
    return value;
  }

  /** A string among `choices`, or undefined when absent. */
  choice<T extends string>(key: string, choices: readonly T[]): T | undefined {
    const value = this.string(key);
    if (value === undefined) return undefined;
    if (!(choices as readonly string[]).includes(value)) {
      throw invalidRequest(`Invalid ${this.name(key)}: must be one of ${choices.join(', ')}`, { code: 'parameter_invalid', param: this.name(key) });
    }
    return value as T;
  }

  integer(key: string, { min, max }: { min?: number; max?: number } = {}): number | undefined {
    const value = this.string(key);
    if (value === undefined || value === '') return undefined;
    if (!/^-?\d+$/.test(value)) throw invalidRequest(`Invalid integer: ${value}`, { code: 'parameter_invalid_integer', param: this.name(key) });
    const n = Number(value);
    if ((min !== undefined && n < min) || (max !== undefined && n > max)) {
      throw invalidRequest(`Invalid ${this.name(key)}: must be between ${min ?? '-∞'} and ${max ?? '∞'}`, { code: 'parameter_invalid_integer', param: this.name(key) });
    }
    return n;
  }

  boolean(key: string): boolean | undefined {
    const value = this.string(key);
    if (value === undefined || value === '') return undefined;
    if (value !== 'true' && value !== 'false') throw invalidRequest(`Invalid boolean: ${value}`, { code: 'parameter_invalid', param: this.name(key) });
    return value === 'true';
  }

  /** A unix timestamp or the keyword `now`. */
  timestampOrNow(key: string): number | 'now' | undefined {
    const value = this.string(key);
    if (value === undefined || value === '') return undefined;
    if (value === 'now') return 'now';
    return this.integer(key);
  }

  object(key: string): Params {
    return Params.of(this.raw[key], this.name(key));
  }

  list(key: string): Params[] {
    const value = this.raw[key];
    if (value === undefined || value === '') return [];
    if (!Array.isArray(value)) throw invalidRequest(`Invalid array: ${this.name(key)}`, { code: 'parameter_invalid', param: this.name(key) });
    return value.map((item, i) => Params.of(item, `${this.name(key)}[${i}]`));
  }

  strings(key: string): string[] {
    const value = this.raw[key];
    if (value === undefined || value === '') return [];
    const items = Array.isArray(value) ? value : [value];
    return items.map((item, i) => {
      if (typeof item !== 'string') throw invalidRequest(`Invalid array: ${this.name(key)}[${i}]`, { code: 'parameter_invalid', param: this.name(key) });
      return item;
    });
  }

  /**
   * Applies `metadata[...]` to `current` with Stripe's rules: a key with an empty value is
   * removed, `metadata=` clears everything; values are strings of at most 500 characters.
   */
  metadata(key: string, current: Record<string, string> = {}): Record<string, string> {
    const value = this.raw[key];
    if (value === undefined) return current;
    if (value === '') return {};
    if (typeof value === 'string' || Array.isArray(value)) throw invalidRequest(`Invalid hash: ${this.name(key)}`, { code: 'parameter_invalid', param: this.name(key) });
    const next = { ...current };
    for (const [k, v] of Object.entries(value)) {
      if (typeof v !== 'string') throw invalidRequest(`Invalid metadata value for ${k}`, { code: 'parameter_invalid', param: `${this.name(key)}[${k}]` });
      if (k.length > 40) throw invalidRequest(`Metadata keys can have a maximum length of 40 characters.`, { code: 'parameter_invalid', param: `${this.name(key)}[${k}]` });
      if (v.length > 500) throw invalidRequest(`Metadata values can have a maximum length of 500 characters.`, { code: 'parameter_invalid', param: `${this.name(key)}[${k}]` });
      if (v === '') delete next[k];
      else next[k] = v;
    }
    if (Object.keys(next).length > 50) throw invalidRequest('Metadata can have at most 50 keys.', { code: 'parameter_invalid', param: this.name(key) });
    return next;
  }
}
