/**
 * Optimizer state per trainable parameter, one row per optimizer with the source of its figure.
 *
 * States are what the optimizer keeps between steps (moments, momentum, accumulators), in bytes, on top of the
 * parameters, their gradients and the fp32 master copy (those are training.ts's lines). PyTorch keeps states in
 * the parameter's dtype, which is fp32 for the master copy in mixed precision: hence 4 B per fp32 state.
 */
import { InputError } from './inference.js';

/** What the states of a set of trainable tensors need beyond a per-parameter constant (Adafactor's factoring). */
export interface TrainableShapes {
  /** Trainable parameters. */
  params: number;
  /**
   * Adafactor's factored second moment: for every tensor of rank >= 2, prod(shape[:-1]) + prod(shape[:-2]) *
   * shape[-1] fp32 values (row and column statistics over the last two dims), for rank 1 one fp32 per element.
   * In elements, not bytes.
   */
  factoredElements: number;
  /** Parameters in tensors below bitsandbytes' min_8bit_size (4096 elements), which stay in 32-bit states. */
  smallTensorParams: number;
}

export interface OptimizerSpec {
  id: string;
  /** Names people and the specs use (matched case-insensitively, spaces and dashes as underscores). */
  aliases: readonly string[];
  description: string;
  /** Bytes of state per trainable parameter (0 for Adafactor, whose state is shape-dependent). */
  bytesPerParam: number;
  /** 8-bit block-wise states (bitsandbytes): tensors under 4096 elements keep 32-bit states instead. */
  blockwise8bit: { states: number; blockSize: number; fallbackBytes: number } | null;
  factored: boolean;
  formula: string;
  source: string;
}

/** bitsandbytes: one fp32 absmax per block of 2048 values per state; tensors < 4096 elements stay 32-bit. */
const BNB_BLOCK = 2048;
export const BNB_MIN_8BIT_SIZE = 4096;

export const OPTIMIZERS: readonly OptimizerSpec[] = [
  {
    id: 'adamw',
    aliases: [
      'adam',
      'adamw_torch',
      'adamw_torch_fused',
      'adamw_hf',
      'adamw_apex_fused',
      'fused_adam',
      'fusedadam',
    ],
    description: 'Adam / AdamW: two fp32 moments (exp_avg, exp_avg_sq)',
    bytesPerParam: 8,
    blockwise8bit: null,
    factored: false,
    formula: '2 moments · 4 B',
    source: 'torch.optim.AdamW state exp_avg + exp_avg_sq; Loshchilov & Hutter 2019',
  },
  {
    id: 'adamw_8bit',
    aliases: [
      'quantized_adamw',
      'paged_adamw_8bit',
      'adamw_bnb_8bit',
      'adam_8bit',
      'adam8bit',
      'adamw8bit',
      'bnb_adamw_8bit',
      'paged_adam_8bit',
    ],
    description:
      '8-bit AdamW (bitsandbytes): two 8-bit block-wise quantised moments + one fp32 absmax per 2048 values per moment',
    bytesPerParam: 2 + (2 * 4) / BNB_BLOCK,
    blockwise8bit: { states: 2, blockSize: BNB_BLOCK, fallbackBytes: 8 },
    factored: false,
    formula: '2 moments · (1 B + 4 B / 2048); tensors < 4096 elements: 8 B',
    source:
      'Dettmers et al. 2022, "8-bit Optimizers via Block-wise Quantization"; bitsandbytes Optimizer8bit (block 2048, min_8bit_size 4096). Paged variants page to CPU only under memory pressure: same GPU bytes',
  },
  {
    id: 'sgd',
    aliases: ['vanilla_sgd', 'sgd_no_momentum'],
    description: 'SGD without momentum: no state',
    bytesPerParam: 0,
    blockwise8bit: null,
    factored: false,
    formula: '0',
    source: 'torch.optim.SGD with momentum=0 keeps no momentum_buffer',
  },
  {
    id: 'sgd_momentum',
    aliases: ['sgd_m', 'momentum', 'sgd_with_momentum', 'nesterov', 'sgd_nesterov'],
    description: 'SGD with (Nesterov) momentum: one fp32 momentum buffer',
    bytesPerParam: 4,
    blockwise8bit: null,
    factored: false,
    formula: '1 buffer · 4 B',
    source: 'torch.optim.SGD momentum_buffer',
  },
  {
    id: 'adafactor',
    aliases: ['adafactor_hf'],
    description:
      'Adafactor without first moment (beta1=None): factored second moment, row and column fp32 statistics per matrix, one fp32 per element of vectors',
    bytesPerParam: 0,
    blockwise8bit: null,
    factored: true,
    formula: '4 B · Σ matrices (rows + cols) + 4 B · Σ vector elements',
    source:
      'Shazeer & Stern 2018, "Adafactor: Adaptive Learning Rates with Sublinear Memory Cost"; transformers.optimization.Adafactor (exp_avg_sq_row, exp_avg_sq_col over the last two dims)',
  },
  {
    id: 'lion',
    aliases: ['lion_32bit', 'lion_torch'],
    description: 'Lion: one fp32 momentum',
    bytesPerParam: 4,
    blockwise8bit: null,
    factored: false,
    formula: '1 moment · 4 B',
    source: 'Chen et al. 2023, "Symbolic Discovery of Optimization Algorithms" (exp_avg only)',
  },
  {
    id: 'lion_8bit',
    aliases: ['paged_lion_8bit', 'lion8bit'],
    description: '8-bit Lion (bitsandbytes): one 8-bit block-wise momentum + fp32 absmax per 2048 values',
    bytesPerParam: 1 + 4 / BNB_BLOCK,
    blockwise8bit: { states: 1, blockSize: BNB_BLOCK, fallbackBytes: 4 },
    factored: false,
    formula: '1 moment · (1 B + 4 B / 2048); tensors < 4096 elements: 4 B',
    source: 'bitsandbytes Lion8bit',
  },
  {
    id: 'adagrad',
    aliases: [],
    description: 'Adagrad: one fp32 sum of squared gradients',
    bytesPerParam: 4,
    blockwise8bit: null,
    factored: false,
    formula: '1 accumulator · 4 B',
    source: 'torch.optim.Adagrad state sum',
  },
  {
    id: 'rmsprop',
    aliases: ['rms_prop'],
    description: 'RMSprop without momentum: one fp32 square average',
    bytesPerParam: 4,
    blockwise8bit: null,
    factored: false,
    formula: '1 accumulator · 4 B (momentum > 0 adds a second buffer: not modelled)',
    source: 'torch.optim.RMSprop state square_avg',
  },
  {
    id: 'lamb',
    aliases: ['fused_lamb', 'fusedlamb'],
    description: 'LAMB: two fp32 moments as Adam, layer-wise trust ratio',
    bytesPerParam: 8,
    blockwise8bit: null,
    factored: false,
    formula: '2 moments · 4 B',
    source: 'You et al. 2020, "Large Batch Optimization for Deep Learning: Training BERT in 76 minutes"',
  },
  {
    id: 'sophia',
    aliases: ['sophiag', 'sophia_g', 'sophia_h'],
    description: 'Sophia: fp32 momentum + fp32 diagonal Hessian EMA',
    bytesPerParam: 8,
    blockwise8bit: null,
    factored: false,
    formula: '2 buffers · 4 B',
    source: 'Liu et al. 2023, "Sophia: A Scalable Stochastic Second-order Optimizer"',
  },
];

export const OPTIMIZER_IDS: readonly string[] = OPTIMIZERS.map((o) => o.id);

const BY_NAME = new Map<string, OptimizerSpec>();
for (const o of OPTIMIZERS) {
  BY_NAME.set(o.id, o);
  for (const a of o.aliases) BY_NAME.set(a, o);
}

export class OptimizerError extends InputError {}

function normaliseName(name: string): string {
  return name
    .trim()
    .toLowerCase()
    .replace(/[\s-]+/g, '_');
}

/** The optimizer a name denotes (case-insensitive, aliases accepted), or null. */
export function findOptimizer(name: string): OptimizerSpec | null {
  return BY_NAME.get(normaliseName(name)) ?? null;
}

/** The optimizer a name denotes; throws an OptimizerError naming the accepted ids when unknown. */
export function getOptimizer(name: string): OptimizerSpec {
  const o = findOptimizer(name);
  if (!o) {
    throw new OptimizerError(
      `unknown optimizer '${name}'; accepted: ${OPTIMIZER_IDS.join(', ')} (case-insensitive; aliases such as 'AdamW', 'Quantized AdamW', 'paged_adamw_8bit', 'SGD' are accepted)`,
    );
  }
  return o;
}

/** Optimizer-state bytes for a set of trainable tensors (whole model, before any sharding). */
export function optimizerStateBytes(o: OptimizerSpec, s: TrainableShapes): number {
  if (o.factored) return 4 * s.factoredElements;
  if (o.blockwise8bit) {
    const { states, blockSize, fallbackBytes } = o.blockwise8bit;
    const quantised = s.params - s.smallTensorParams;
    return quantised * states * (1 + 4 / blockSize) + s.smallTensorParams * fallbackBytes;
  }
  return o.bytesPerParam * s.params;
}

/** Adafactor's factored elements of one tensor (see TrainableShapes.factoredElements). */
export function factoredElements(shape: readonly number[]): number {
  if (shape.length < 2) return shape.reduce((a, b) => a * b, 1);
  const cols = shape[shape.length - 1]!;
  let lead = 1;
  for (let i = 0; i < shape.length - 2; i++) lead *= shape[i]!;
  const rows = shape[shape.length - 2]!;
  return lead * rows + lead * cols;
}
