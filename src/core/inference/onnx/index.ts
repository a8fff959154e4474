// Public surface of the ONNX tooling.
export * from './model.ts';
export { OnnxGraphBuilder, float, floats, makeAttribute, type AttrValue, type ConvOptions, type ElemType } from './builder.ts';
export { rewriteConvTranspose3d, rewriteConvTransposeReport, type RewriteReport } from './rewrite.ts';
export { fromFloat16Bits, onnxWithFloat16Weights, storeWeightsAsFloat16, toFloat16Bits, type Float16Report } from './float16.ts';
