import { Type, type Static } from 'typebox';
import { PageQuery, pageOf } from '../../platform/http/pagination.ts';
import { NullableTimestamp, Timestamp, Uuid } from '../../platform/http/schemas.ts';

const Name = Type.String({ minLength: 1, maxLength: 200, pattern: '\\S' });
const Address = Type.String({ minLength: 1, maxLength: 500 });
const TimeZone = Type.String({ minLength: 1, maxLength: 64, description: 'IANA time zone (Europe/Lisbon); default: the business\'s' });

export const CreateBranchBody = Type.Object(
  { name: Name, address: Type.Optional(Type.Union([Address, Type.Null()])), timezone: Type.Optional(TimeZone) },
  { additionalProperties: false },
);
export type CreateBranchInput = Static<typeof CreateBranchBody>;

export const UpdateBranchBody = Type.Object(
  { name: Type.Optional(Name), address: Type.Optional(Type.Union([Address, Type.Null()])), timezone: Type.Optional(TimeZone) },
  { additionalProperties: false, minProperties: 1 },
);
export type UpdateBranchInput = Static<typeof UpdateBranchBody>;

export const ListBranchesQuery = Type.Object(
  { ...PageQuery, includeArchived: Type.Optional(Type.Boolean({ default: false })) },
  { additionalProperties: false },
);
export type ListBranchesInput = Static<typeof ListBranchesQuery>;

export const BranchView = Type.Object({
  id: Uuid,
  name: Type.String(),
  address: Type.Union([Type.String(), Type.Null()]),
  timezone: Type.String(),
  archivedAt: NullableTimestamp,
  createdAt: Timestamp,
});
export type Branch = Static<typeof BranchView>;

export const BranchResponse = Type.Object({ branch: BranchView });
export const BranchPage = pageOf(BranchView);
