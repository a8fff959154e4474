// Public surface of the ONNX tooling.
export * from './model.ts';
export { OnnxGraphBuilder, float, floats, makeAttribute, type AttrValue, type ConvOptions, type ElemType } from './builder.ts';
export { rewriteConvTranspose3d, rewriteConvTransposeReport, type RewriteReport } from './rewrite.ts';
