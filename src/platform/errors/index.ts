export { AppError, notFound, invalidFields, toProblem, errorStatus, titleOf, type ErrorCode, type Problem } from './errors.ts';
