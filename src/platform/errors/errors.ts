/**
 * The one table where a stable error code becomes an HTTP status. Add a row when a module needs
 * a new code; the HTTP layer never invents statuses of its own.
 */
export const errorStatus = {
  validation_failed: 400,
  bad_request: 400,
  invalid_json: 400,
  invalid_signature: 400,
  payment_amount_invalid: 400,
  invalid_token: 400,
  invalid_event: 400,
  unauthenticated: 401,
  invalid_credentials: 401,
  payment_required: 402,
  plan_limit_reached: 402,
  feature_not_in_plan: 402,
  subscription_suspended: 402,
  subscription_ended: 402,
  forbidden: 403,
  cannot_change_own_roles: 403,
  support_grant_required: 403,
  not_found: 404,
  method_not_allowed: 405,
  not_acceptable: 406,
  request_timeout: 408,
  conflict: 409,
  idempotency_key_reused: 409,
  idempotency_key_in_use: 409,
  tenant_required: 409,
  already_exists: 409,
  insufficient_stock: 409,
  invalid_state: 409,
  last_owner: 409,
  role_in_use: 409,
  branch_archived: 409,
  menu_item_unavailable: 409,
  order_not_open: 409,
  order_not_paid: 409,
  billing_not_ready: 409,
  plan_limits_exceeded: 409,
  export_expired: 410,
  payload_too_large: 413,
  unsupported_media_type: 415,
  headers_too_large: 431,
  unprocessable: 422,
  rate_limited: 429,
  internal_error: 500,
  service_unavailable: 503,
  payment_provider_unavailable: 503,
} as const;

export type ErrorCode = keyof typeof errorStatus;

const titles: Partial<Record<ErrorCode, string>> = {
  validation_failed: 'Your request is not valid',
  unauthenticated: 'Authentication required',
  invalid_credentials: 'Wrong e-mail or password',
  forbidden: 'Permission denied',
  not_found: 'Not found',
  conflict: 'Conflict',
  rate_limited: 'Too many requests',
  plan_limit_reached: 'Plan limit reached',
  feature_not_in_plan: 'Feature not in your plan',
  subscription_suspended: 'Subscription suspended: read-only',
  subscription_ended: 'Subscription ended: read-only',
  internal_error: 'Internal error',
  payload_too_large: 'Request body too large',
};

export function titleOf(code: ErrorCode): string {
  return titles[code] ?? code.replace(/_/g, ' ').replace(/^./, (c) => c.toUpperCase());
}

/** The members RFC 9457 (and the contract's `code`) define: an extra can never stand in for one. */
const RESERVED = ['type', 'title', 'status', 'detail', 'instance', 'code'] as const;

/** Members a code adds to its problem document, under names of their own (`orderStatus`, not `status`). */
export type ProblemExtras = Record<string, unknown> & { [K in (typeof RESERVED)[number]]?: never };

/**
 * An expected failure with a stable code. `extras` become members of the problem document
 * (`requiredPermission`, `errors`, `limit`, ...). `headers` go on the response (`Retry-After`).
 */
export class AppError extends Error {
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    readonly detail: string,
    readonly extras: ProblemExtras = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(detail);
    this.name = 'AppError';
    this.status = errorStatus[code];
  }
}

export const notFound = (what = 'resource') => new AppError('not_found', `No such ${what}.`);

/** validation_failed naming the fields that are wrong, as the framework's own schema errors do. */
export const invalidFields = (errors: { path: string; message: string }[], detail = 'The request does not match the expected shape.') =>
  new AppError('validation_failed', detail, { errors });

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  [extra: string]: unknown;
}

export function toProblem(err: AppError, instance?: string): Problem {
  const extras: Record<string, unknown> = { ...err.extras };
  // The type forbids these; the copy drops them too, should one arrive through a cast.
  for (const member of RESERVED) delete extras[member];
  return {
    ...extras,
    type: `/problems/${err.code}`,
    title: titleOf(err.code),
    status: err.status,
    detail: err.detail,
    code: err.code,
    ...(instance ? { instance } : {}),
  };
}
