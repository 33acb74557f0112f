/** Chart.js, registered piece by piece (only what the page draws is bundled), plus a reference-line plugin. */
import {
  BarController,
  BarElement,
  CategoryScale,
  Chart,
  Filler,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  LogarithmicScale,
  PointElement,
  Tooltip,
  type ChartConfiguration,
  type ChartType,
  type Plugin,
} from 'chart.js';

export interface RefLine {
  value: number;
  label: string;
  color?: string;
  /** Put the label at the bottom of a vertical line (when two labels would meet at the top). */
  bottom?: boolean;
}

declare module 'chart.js' {
  // The type parameter must match chart.js's own declaration to merge.
  // eslint-disable-next-line @typescript-eslint/no-unused-vars
  interface PluginOptionsByType<TType extends ChartType> {
    refLines?: { lines: RefLine[]; axis: 'x' | 'y' };
    /** Text beside each point of one dataset (a curve's points named by their parameter). */
    pointLabels?: { dataset: number; labels: string[] };
  }
}

/** Dashed lines at given values (device capacity, say), on the value axis. */
const refLines: Plugin = {
  id: 'refLines',
  afterDatasetsDraw(chart, _args, opts: { lines?: RefLine[]; axis?: 'x' | 'y' }) {
    const lines = opts.lines ?? [];
    const axis = opts.axis ?? 'y';
    const scale = chart.scales[axis];
    if (!scale || !lines.length) return;
    const { ctx, chartArea: a } = chart;
    ctx.save();
    for (const l of lines) {
      const p = scale.getPixelForValue(l.value);
      ctx.strokeStyle = l.color ?? '#b42318';
      ctx.fillStyle = l.color ?? '#b42318';
      ctx.setLineDash([6, 4]);
      ctx.lineWidth = 2;
      ctx.beginPath();
      if (axis === 'y') {
        ctx.moveTo(a.left, p);
        ctx.lineTo(a.right, p);
      } else {
        ctx.moveTo(p, a.top);
        ctx.lineTo(p, a.bottom);
      }
      ctx.stroke();
      ctx.setLineDash([]);
      ctx.font = '12px system-ui, sans-serif';
      if (axis === 'y') ctx.fillText(l.label, a.left + 4, p - 4);
      else {
        ctx.textAlign = p > a.left + (a.right - a.left) / 2 ? 'right' : 'left';
        ctx.fillText(l.label, p + (ctx.textAlign === 'right' ? -4 : 4), l.bottom ? a.bottom - 4 : a.top + 12);
      }
    }
    ctx.restore();
  },
};

/** Writes `labels[i]` above and right of point i of the chosen dataset. */
const pointLabels: Plugin = {
  id: 'pointLabels',
  afterDatasetsDraw(chart, _args, opts: { dataset?: number; labels?: string[] }) {
    const labels = opts.labels ?? [];
    const meta = chart.getDatasetMeta(opts.dataset ?? 0);
    if (!labels.length || meta.hidden) return;
    const { ctx } = chart;
    ctx.save();
    ctx.font = '11px system-ui, sans-serif';
    ctx.fillStyle = '#334155';
    meta.data.forEach((pt, i) => {
      const l = labels[i];
      if (l && Number.isFinite(pt.x) && Number.isFinite(pt.y)) ctx.fillText(l, pt.x + 5, pt.y - 5);
    });
    ctx.restore();
  },
};

Chart.register(
  BarController,
  BarElement,
  LineController,
  LineElement,
  PointElement,
  CategoryScale,
  LinearScale,
  LogarithmicScale,
  Legend,
  Tooltip,
  Filler,
  refLines,
  pointLabels,
);
Chart.defaults.animation = false;
Chart.defaults.maintainAspectRatio = false;
Chart.defaults.font.family = 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif';
Chart.defaults.color = '#334155';

/** Memory components, in stacking order, with their colours. */
export const COMPONENT_COLORS: Record<string, string> = {
  weights: '#2563eb',
  kv_cache: '#f59e0b',
  activations: '#10b981',
  state: '#8b5cf6',
  image: '#ec4899',
  overhead: '#64748b',
};

export const PALETTE = [
  '#2563eb',
  '#dc2626',
  '#059669',
  '#d97706',
  '#7c3aed',
  '#db2777',
  '#0891b2',
  '#4b5563',
];

/** Draws (or redraws) a chart on a canvas. */
export function draw<T extends ChartType>(
  canvas: HTMLCanvasElement,
  config: ChartConfiguration<T>,
): Chart<T> {
  Chart.getChart(canvas)?.destroy();
  return new Chart(canvas, config);
}

/** Destroys the charts drawn inside `root` (before it is replaced: Chart.js keeps every chart until destroyed). */
export function destroyCharts(root: Element): void {
  for (const c of root.querySelectorAll('canvas')) Chart.getChart(c)?.destroy();
}

export { Chart };
