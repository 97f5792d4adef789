import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import type { FastifySchemaCompiler } from 'fastify';

/**
 * A UUID as Brigade stores it: 36 characters, hex and dashes. ajv-formats' own `uuid` also takes
 * `urn:uuid:<uuid>`, which PostgreSQL refuses; this one replaces it for every schema.
 */
export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Text PostgreSQL cannot store: a NUL character (22021), or half of a surrogate pair without its
 * other half (not valid UTF-8). Refused in every string of every request, before any use case.
 */
const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

export const isStorable = (text: string): boolean => !UNSTORABLE.test(text);
/** The text with what PostgreSQL cannot store replaced (U+FFFD): for records of refused requests. */
export const storable = (text: string): string => text.replace(new RegExp(UNSTORABLE.source, 'g'), '\ufffd');
/**
 * Whether JSON text may decode to something PostgreSQL cannot store. Decoded UTF-8 never holds a
 * lone surrogate and JSON refuses a raw NUL, so only an escape can bring one in (`\u0000`,
 * `\udXXX`); text without such an escape parses to storable strings only.
 */
export const mayEscapeUnstorable = (json: string): boolean => /\\u(?:0000|d[89a-f])/i.test(json);
/** A copy of a JSON value whose every string and key is storable: for what others send and we must keep. */
export function storableCopy(value: unknown): unknown {
  if (typeof value === 'string') return storable(value);
  if (Array.isArray(value)) return value.map(storableCopy);
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [storable(k), storableCopy(v)]));
  return value;
}

/** A failed request with at most this many values gets every error listed, others the first. */
const LIST_EVERY_ERROR_UP_TO = 200;
/** Never more errors than this in one answer. */
export const MAX_ERRORS = 20;

function makeAjv(coerce: boolean, allErrors: boolean) {
  // Bodies are strict: no coercion, unknown fields are an error (never silently dropped).
  // Query strings and params arrive as text, so they are coerced to the declared types.
  const ajv = new Ajv.default({
    allErrors,
    removeAdditional: false,
    useDefaults: true,
    coerceTypes: coerce ? 'array' : false,
    strict: false,
  });
  addFormats.default(ajv);
  ajv.addFormat('uuid', UUID);
  return ajv;
}

// Each part has a fail-fast validator (what decides) and an every-error one, compiled on the first
// failure, that lists what is wrong when the input is small enough for that to be cheap.
const firstError = { body: makeAjv(false, false), other: makeAjv(true, false) };
const everyError = { body: makeAjv(false, true), other: makeAjv(true, true) };

interface Inspection {
  values: number;
  unstorableAt: string | null;
}

/** Counts the values of a request part and finds the first string (or key) PostgreSQL cannot store. */
function inspect(data: unknown): Inspection {
  const found: Inspection = { values: 0, unstorableAt: null };
  const visit = (value: unknown, at: string): void => {
    found.values++;
    if (typeof value === 'string') {
      if (UNSTORABLE.test(value)) found.unstorableAt = at;
    } else if (Array.isArray(value)) {
      for (let i = 0; i < value.length && found.unstorableAt === null; i++) visit(value[i], `${at}/${i}`);
    } else if (value !== null && typeof value === 'object') {
      for (const [key, v] of Object.entries(value)) {
        if (UNSTORABLE.test(key)) found.unstorableAt = `${at}/${key}`;
        if (found.unstorableAt !== null) return;
        visit(v, `${at}/${key}`);
      }
    }
  };
  visit(data, '');
  return found;
}

const unstorable = (instancePath: string): ErrorObject => ({
  instancePath,
  schemaPath: '#',
  keyword: 'unstorable',
  params: {},
  message: 'must not contain a NUL character or an unpaired surrogate',
});

type Validator = ((data: unknown) => boolean) & { errors?: ErrorObject[] | null };

export const validatorCompiler: FastifySchemaCompiler<unknown> = ({ schema, httpPart }) => {
  const kind = httpPart === 'body' ? 'body' : 'other';
  const decide = firstError[kind].compile(schema as object);
  let listEvery: ValidateFunction | undefined;
  const validate: Validator = (data) => {
    const seen = inspect(data);
    if (seen.unstorableAt !== null) {
      validate.errors = [unstorable(seen.unstorableAt)];
      return false;
    }
    if (decide(data)) {
      validate.errors = null;
      return true;
    }
    let errors = decide.errors ?? [];
    if (seen.values <= LIST_EVERY_ERROR_UP_TO) {
      listEvery ??= everyError[kind].compile(schema as object);
      if (!listEvery(data) && listEvery.errors?.length) errors = listEvery.errors;
    }
    validate.errors = errors.slice(0, MAX_ERRORS);
    return false;
  };
  return validate as ReturnType<FastifySchemaCompiler<unknown>>;
};

export interface FieldError {
  path: string;
  message: string;
}

export function describeValidation(errors: ErrorObject[], part: string | undefined): FieldError[] {
  return errors.map((e) => {
    let path = e.instancePath.replace(/^\//, '').replace(/\//g, '.');
    let message = e.message ?? 'is invalid';
    if (e.keyword === 'additionalProperties') {
      const extra = (e.params as { additionalProperty: string }).additionalProperty;
      path = path ? `${path}.${extra}` : extra;
      message = 'is not a known field';
    } else if (e.keyword === 'required') {
      const missing = (e.params as { missingProperty: string }).missingProperty;
      path = path ? `${path}.${missing}` : missing;
      message = 'is required';
    }
    const prefix = part && part !== 'body' ? `${part}.` : '';
    return { path: `${prefix}${path}` || (part ?? 'body'), message };
  });
}
