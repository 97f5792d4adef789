export { runWithContext, currentContext, enrichContext, addDbTime, type RunContext } from './context.ts';
