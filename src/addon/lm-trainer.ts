/** The native LM trainer class (native/addon), as JS sees it. */

/** Shape of lmrec's small Llama-style decoder as the addon reads it (see lm/llama_shape.h). */
export interface NativeLlamaShape {
  vocab: number;
  dim?: number | undefined;
  layers?: number | undefined;
  heads?: number | undefined;
  kvHeads?: number | undefined;
  ffn?: number | undefined;
  maxPositions?: number | undefined;
  items?: number | undefined;
  auxHeads?: number | undefined;
  /** The output layer is the token embedding (default), else its own lm_head.weight. */
  tied?: boolean | undefined;
  ropeTheta?: number | undefined;
  normEps?: number | undefined;
  seed?: number | undefined;
}

/** Training options of the decoder (lm/lm_trainer.h); absent fields take defaults. */
export interface NativeLmTrainOptions {
  lr?: number | undefined;
  beta1?: number | undefined;
  beta2?: number | undefined;
  eps?: number | undefined;
  weightDecay?: number | undefined;
  minLrRatio?: number | undefined;
  warmupSteps?: number | undefined;
  totalSteps?: number | undefined;
  clipNorm?: number | undefined;
  batchTokens?: number | undefined;
  context?: number | undefined;
  lmWeight?: number | undefined;
  itemWeight?: number | undefined;
  auxWeight?: number | undefined;
  alignWeight?: number | undefined;
  freezeLayers?: number | undefined;
  localLayers?: number | undefined;
  logitsBytes?: number | undefined;
  seed?: number | undefined;
  threads?: number | undefined;
}

/** Token sequences (CSR) with the events written in them; see lm::Corpus. */
export interface NativeLmCorpus {
  tokens: Int32Array;
  /** count + 1 token offsets. */
  offsets: Float64Array;
  /** Absolute index of each event's last token, increasing. */
  eventEnds?: Float64Array | undefined;
  /** The item the hidden state at each event end predicts, or -1. */
  nextItems?: Int32Array | undefined;
  /** Evaluation only: per sequence, the first token (absolute index) whose prediction is scored. */
  scoreFrom?: Float64Array | undefined;
  /** Teacher hidden states at each sequence's last token: [count x teacherPoints x dim]. */
  teacher?: Float32Array | undefined;
  teacherPoints?: number | undefined;
}

export interface NativeLmStepReport {
  steps: number;
  tokens: number;
  itemTargets: number;
  lmLoss: number;
  itemLoss: number;
  auxLoss: number;
  alignLoss: number;
  gradNorm: number;
  lr: number;
  cancelled: boolean;
}

export interface NativeLmTrainerInfo extends Required<Omit<NativeLlamaShape, 'seed'>> {
  step: number;
  parameters: number;
  options: Required<Omit<NativeLmTrainOptions, 'threads'>>;
}

export interface NativeLmInferenceOptions {
  threads?: number | undefined;
  /** Tokens a window holds (0 or absent: the training options' context). */
  context?: number | undefined;
  /** Bottom layers attending within each event's segment, as late interaction serves them (absent: the training options'). */
  localLayers?: number | undefined;
}

export interface NativeLmTrainer {
  info(): NativeLmTrainerInfo;
  layout(): { name: string; rows: number; cols: number; offset: number }[];
  params(): Float32Array;
  /** keepOptimizer: keep AdamW's moments and step (else they restart). */
  setParams(params: Float32Array, keepOptimizer?: boolean): void;
  setCorpus(corpus: NativeLmCorpus, options: NativeLmTrainOptions, resuming: boolean): void;
  train(steps: number): Promise<NativeLmStepReport>;
  cancel(): void;
  /** Inference options: threads, and `context`, the window sequences are cut to (default the training options'). */
  evaluate(corpus: NativeLmCorpus, options?: NativeLmInferenceOptions): Promise<{
    lmLoss: number;
    itemLoss: number;
    tokens: number;
    itemTargets: number;
  }>;
  itemScores(corpus: NativeLmCorpus, options?: NativeLmInferenceOptions): Promise<Float32Array>;
  lastHidden(corpus: NativeLmCorpus, layer: number, options?: NativeLmInferenceOptions): Promise<Float32Array>;
  logits(tokens: Int32Array): Float32Array;
  lossAndGradients(step: number): { loss: number; gradients: Float32Array };
  saveCheckpoint(path: string): Promise<void>;
  close(): void;
}

export interface NativeLmTrainerConstructor {
  new (shape: NativeLlamaShape): NativeLmTrainer;
  loadCheckpoint(path: string): Promise<NativeLmTrainer>;
}
