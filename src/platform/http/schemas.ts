import { Type } from 'typebox';

/** Schemas every module's routes share. */
export const Uuid = Type.String({ format: 'uuid' });
export const IdParams = Type.Object({ id: Uuid }, { additionalProperties: false });
export const Timestamp = Type.String({ format: 'date-time', description: 'ISO 8601, UTC' });
export const NullableTimestamp = Type.Union([Timestamp, Type.Null()]);
/** A reason written into the audit trail and shown to people: one line of prose. */
export const Reason = Type.String({ minLength: 1, maxLength: 500, pattern: '\\S' });
