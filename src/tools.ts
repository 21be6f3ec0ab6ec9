/**
 * `lmrec/tools`: helpers for tests, benchmarks and demos — generated data, checkpoint writers,
 * machine probes. Not needed to recommend anything; the product is the main entry.
 * @module lmrec/tools
 */
export { clusteredVectors, clusteredQueries, type ClusteredOptions, type ClusteredData } from './data/clustered-vectors.js';
export { generateSynthetic, writeSynthetic, type SyntheticOptions, type SyntheticData, type SyntheticItem, type SyntheticFields } from './data/synthetic.js';
export { probeMachine, type MachineLimits } from './machine.js';
export { Random } from './util/random.js';
export { recallAtK } from './vector-index/recall.js';
export { Safetensors, writeSafetensors, type SafetensorsDtype, type TensorInfo, type TensorToWrite } from './lm/safetensors.js';
export { writeDecoderCheckpoint, writeEncoderCheckpoint, type TensorKind, type TensorSource } from './lm/checkpoint-writer.js';
export { startChildServer, type ChildServer } from './serve/child-server.js';
