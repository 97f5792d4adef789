import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';

/**
 * Hooks that run on every request but have work to wait for only on some: `fn` returns nothing
 * when it is done at once and a promise when it must wait. Fastify calls an `async` hook's
 * promise through `.then` and a microtask even when it returned at its first line; a dozen such
 * hooks were a measurable share of a read's JavaScript, so the common path here is a plain call.
 */
export function quickHook(fn: (req: FastifyRequest, reply: FastifyReply) => Promise<unknown> | void): (req: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => void {
  return (req, reply, done) => {
    let pending: Promise<unknown> | void;
    try {
      pending = fn(req, reply);
    } catch (err) {
      done(err as Error);
      return;
    }
    if (pending) pending.then(() => done(), done);
    else done();
  };
}

/** The same for onSend, which hands the payload on (possibly replaced). */
export function quickSendHook<P>(
  fn: (req: FastifyRequest, reply: FastifyReply, payload: P) => Promise<P> | P,
): (req: FastifyRequest, reply: FastifyReply, payload: P, done: (err: Error | null, payload?: P) => void) => void {
  return (req, reply, payload, done) => {
    let next: Promise<P> | P;
    try {
      next = fn(req, reply, payload);
    } catch (err) {
      done(err as Error);
      return;
    }
    if (next instanceof Promise) next.then((p) => done(null, p), (err: Error) => done(err));
    else done(null, next);
  };
}
