/** The explain trace: every figure with its formula, the inputs it used and its unit. */
export interface TraceEntry {
  figure: string;
  value: number;
  unit: string;
  formula: string;
  inputs: Record<string, number | string | boolean | null>;
}

/** Collects trace entries only when asked, so the hot path pays nothing. */
export class Trace {
  readonly entries: TraceEntry[] = [];
  constructor(readonly enabled: boolean) {}

  add(
    figure: string,
    value: number,
    unit: string,
    formula: string,
    inputs: TraceEntry['inputs'] = {},
  ): number {
    if (this.enabled) this.entries.push({ figure, value, unit, formula, inputs });
    return value;
  }
}

export const NO_TRACE = new Trace(false);
