export { createSignalRecorder, silentSignalRecorder, type SignalRecorder, type SignalRecorderOptions } from './recorder.ts';
export { writeSignalBatch, markDirty, type SignalBatch, type TenantSignalsTable, type PlatformSignalsTable } from './store.ts';
export { F, FIGURES, figureColumns, emptyFigures, addFigures, figuresOfRow, mergeOf, type FigureColumn } from './figures.ts';
export { LATENCY_BUCKETS, bucketOf, bucketUpperMs, bucketColumns, quantileMs, countAboveMs } from './latency.ts';
