import createClient from 'openapi-fetch';
import type { paths, components } from './schema';
import { session } from '../session';

/**
 * The ops API, typed from Brigade's own OpenAPI document (schema.d.ts is generated at build
 * time from the routes, so a field the server does not document does not exist here).
 */
export const api = createClient<paths>({ baseUrl: window.location.origin });

api.use({
  onRequest({ request }) {
    const token = session.token();
    if (token) request.headers.set('Authorization', `Bearer ${token}`);
    return request;
  },
  onResponse({ request, response }) {
    // An expired or revoked token: back to sign-in, saying why (the page keeps its URL).
    if (response.status === 401 && !request.url.endsWith('/ops/api/login') && session.token()) {
      session.signedOut('Your session has ended. Sign in again to continue.');
    }
    return response;
  },
});

export type Problem = components['schemas']['Problem'];

/** An error answer of the API, as problem details. */
export class ApiError extends Error {
  constructor(readonly problem: Problem, readonly status: number) {
    super(problem.detail);
  }
}

/** The data of a call, or an ApiError carrying the problem document. */
export async function ok<T>(call: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<T> {
  let result: { data?: T; error?: unknown; response: Response };
  try {
    result = await call;
  } catch {
    throw new ApiError({ type: '/problems/network', title: 'Brigade cannot be reached', status: 0, code: 'network', detail: 'The request did not reach Brigade. Check your connection; the page will try again.' }, 0);
  }
  const { data, error, response } = result;
  if (error !== undefined || !response.ok) {
    const problem = (error && typeof error === 'object' ? error : null) as Problem | null;
    throw new ApiError(
      problem ?? { type: 'about:blank', title: response.statusText, status: response.status, code: 'http_error', detail: `Brigade answered ${response.status}.` },
      response.status,
    );
  }
  return data as T;
}
