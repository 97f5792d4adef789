export { AppError, notFound, toProblem, errorStatus, titleOf, type ErrorCode, type Problem } from './errors.ts';
