/**
 * A value that is often at hand (a cache hit) and sometimes must be waited for (a miss). The
 * per-request checks of every call (who, the plan's rate, whether the business may write) are
 * cache hits almost always; as `async` functions each made promises, and on Node 20 every promise
 * also pays AsyncLocalStorage's hooks. Returning the value itself when it is at hand keeps that
 * path synchronous; a caller that awaits it works unchanged.
 */
export type Awaitable<T> = T | Promise<T>;

/** `next(value)`, at once when the value is at hand, after it otherwise. */
export function andThen<T, R>(value: Awaitable<T>, next: (value: T) => Awaitable<R>): Awaitable<R> {
  return value instanceof Promise ? value.then(next) : next(value);
}
