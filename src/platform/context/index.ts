export { runWithContext, currentContext, enrichContext, type RunContext } from './context.ts';
