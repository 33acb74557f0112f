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
    // Chart.js leaves textBaseline as it last drew; the boxes below assume the alphabetic baseline.
    ctx.textBaseline = 'alphabetic';
    // Label boxes already drawn: a label that would overlap one moves a line further in, so none is written over.
    const placed: { x0: number; x1: number; y0: number; y1: number }[] = [];
    const free = (b: { x0: number; x1: number; y0: number; y1: number }) =>
      !placed.some((q) => b.x0 < q.x1 && q.x0 < b.x1 && b.y0 < q.y1 && q.y0 < b.y1);
    const label = (text: string, x: number, y: number, align: 'left' | 'right', step: number) => {
      const w = ctx.measureText(text).width;
      let top = y - 11;
      for (let i = 0; i < 6; i++) {
        const box = {
          x0: align === 'left' ? x : x - w,
          x1: align === 'left' ? x + w : x,
          y0: top,
          y1: top + 14,
        };
        if (free(box) || i === 5) {
          placed.push(box);
          // A light backing keeps the text readable over bars and grid lines.
          ctx.save();
          ctx.fillStyle = 'rgba(255,255,255,0.85)';
          ctx.fillRect(box.x0 - 2, box.y0, box.x1 - box.x0 + 4, 14);
          ctx.restore();
          ctx.textAlign = align;
          ctx.fillText(text, x, top + 11);
          return;
        }
        top += step;
      }
    };
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
      if (axis === 'y') label(l.label, a.left + 4, p - 4, 'left', -14);
      else {
        const align = p > a.left + (a.right - a.left) / 2 ? 'right' : 'left';
        label(
          l.label,
          p + (align === 'right' ? -4 : 4),
          l.bottom ? a.bottom - 4 : a.top + 12,
          align,
          l.bottom ? -14 : 14,
        );
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
// Tick labels never overlap: horizontal, and skipped with room between them rather than drawn over each other.
Object.assign(Chart.defaults.scale.ticks, { maxRotation: 0, autoSkipPadding: 12 });
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
