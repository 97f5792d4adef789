/**
 * Errors in Stripe's wire shape: `{ error: { type, code, message, param?, decline_code? } }`.
 * The SDK picks its error class from the HTTP status and `type` (400/404 → StripeInvalidRequestError,
 * 401 → StripeAuthenticationError, 402 → StripeCardError, 5xx → StripeAPIError).
 */
export type StripeErrorType = 'invalid_request_error' | 'card_error' | 'api_error' | 'idempotency_error';

export class SimulatedApiError extends Error {
  constructor(
    readonly status: number,
    readonly type: StripeErrorType,
    message: string,
    readonly details: { code?: string; param?: string; decline_code?: string; payment_method?: string } = {},
  ) {
    super(message);
    this.name = 'SimulatedApiError';
  }

  toBody(requestLogUrl?: string): { error: Record<string, unknown> } {
    return {
      error: {
        type: this.type,
        message: this.message,
        ...(this.details.code ? { code: this.details.code, doc_url: `https://stripe.com/docs/error-codes/${this.details.code.replace(/_/g, '-')}` } : {}),
        ...(this.details.param ? { param: this.details.param } : {}),
        ...(this.details.decline_code ? { decline_code: this.details.decline_code } : {}),
        ...(this.details.payment_method ? { payment_method: { id: this.details.payment_method, object: 'payment_method' } } : {}),
        ...(requestLogUrl ? { request_log_url: requestLogUrl } : {}),
      },
    };
  }
}

export function invalidRequest(message: string, details: { code?: string; param?: string } = {}): SimulatedApiError {
  return new SimulatedApiError(400, 'invalid_request_error', message, details);
}

export function resourceMissing(what: string, id: string, param = 'id'): SimulatedApiError {
  return new SimulatedApiError(404, 'invalid_request_error', `No such ${what}: '${id}'`, { code: 'resource_missing', param });
}

export function cardDeclined(
  message: string,
  declineCode: string,
  paymentMethod?: string,
  code = 'card_declined',
): SimulatedApiError {
  return new SimulatedApiError(402, 'card_error', message, {
    code,
    decline_code: declineCode,
    ...(paymentMethod ? { payment_method: paymentMethod } : {}),
  });
}
