import { Type } from 'typebox';

/** Schemas every module's routes share. */
export const Uuid = Type.String({ format: 'uuid', maxLength: 36 });
export const IdParams = Type.Object({ id: Uuid }, { additionalProperties: false });
export const Timestamp = Type.String({ format: 'date-time', maxLength: 40, description: 'ISO 8601, UTC' });
export const NullableTimestamp = Type.Union([Timestamp, Type.Null()]);
/** A reason written into the audit trail and shown to people: one line of prose. */
export const Reason = Type.String({ minLength: 1, maxLength: 500, pattern: '\\S' });

/**
 * An RFC 9457 problem document, as every error leaves (platform/http/problems.ts). Open to the
 * members some codes add (errors, requiredPermission, limit, ...), so the serializer keeps them.
 */
export const Problem = Type.Object(
  {
    type: Type.String(),
    title: Type.String(),
    status: Type.Integer(),
    detail: Type.String(),
    code: Type.String({ description: 'Stable machine-readable code (validation_failed, not_found, ...)' }),
    errors: Type.Optional(Type.Array(Type.Object({ path: Type.String(), message: Type.String() }), { description: 'With validation_failed: what is wrong, field by field' })),
  },
  { additionalProperties: true, description: 'RFC 9457 problem details' },
);

/** Response entries for the error statuses a route can answer, each a problem document. */
export function problemResponses(...statuses: number[]): Record<number, typeof Problem> {
  return Object.fromEntries(statuses.map((s) => [s, Problem]));
}
