// Public API of the preprocessing stage (crop, normalization, resampling, transposition, whole-case pipeline).
export * from './crop.ts';
export * from './normalization.ts';
export * from './resampling.ts';
export * from './transpose.ts';
export * from './preprocess.ts';
export { resizeLikeSkimage, zoomNd, zoomAxis, zoomTaps, splineWeights, SPLINE_PREPAD } from './spline.ts';
