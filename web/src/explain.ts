/** "how?": every number on the page carries a button that opens its explain trace (formula, inputs, value). */
import type { TraceEntry } from './api';
import { el } from './fmt';

export interface Explained {
  title: string;
  /** The trace entries behind the number, the closest first. */
  entries: TraceEntry[];
  /** Where the number comes from (endpoint and request). */
  source: string;
}

const registry = new Map<string, Explained>();
let counter = 0;

/** A "how?" button for a number; `pick` chooses the entries of `trace` that explain it. */
export function how(
  scope: string,
  title: string,
  trace: TraceEntry[] | null | undefined,
  pick: RegExp | null,
  source: string,
): HTMLElement {
  const all = trace ?? [];
  const chosen = pick ? all.filter((t) => pick.test(t.figure)) : all;
  const key = `${scope}-${++counter}`;
  registry.set(key, { title, entries: chosen.length ? chosen : all, source });
  return el('button', {
    type: 'button',
    class: 'how',
    'data-how': key,
    title: `How is ${title} computed?`,
    text: 'how?',
  });
}

/** Forget the buttons of a panel that is re-rendered. */
export function resetHow(scope: string): void {
  for (const k of [...registry.keys()]) if (k.startsWith(`${scope}-`)) registry.delete(k);
}

function value(v: unknown): string {
  if (typeof v === 'number')
    return Number.isInteger(v) ? v.toLocaleString('en-US') : String(+v.toPrecision(6));
  if (v === null) return 'null';
  return String(v);
}

export function showExplain(key: string): void {
  const e = registry.get(key);
  const dialog = document.getElementById('explain') as HTMLDialogElement | null;
  const body = document.getElementById('explain-body');
  const title = document.getElementById('explain-title');
  if (!e || !dialog || !body || !title) return;
  title.textContent = `How? ${e.title}`;
  body.replaceChildren(
    el('p', { class: 'source', text: e.source }),
    ...(e.entries.length
      ? e.entries.map((t) =>
          el(
            'div',
            { class: 'trace-entry' },
            el(
              'div',
              { class: 'figure' },
              el('strong', { text: t.figure }),
              ` = ${value(t.value)} ${t.unit}`,
            ),
            el('code', { class: 'formula', text: t.formula }),
            Object.keys(t.inputs).length
              ? el(
                  'dl',
                  { class: 'inputs' },
                  ...Object.entries(t.inputs).flatMap(([k, v]) => [
                    el('dt', { text: k }),
                    el('dd', { text: value(v) }),
                  ]),
                )
              : null,
          ),
        )
      : [el('p', { text: 'No trace for this figure.' })]),
  );
  if (!dialog.open) dialog.showModal();
}

export function installExplain(): void {
  document.addEventListener('click', (ev) => {
    const t = (ev.target as HTMLElement | null)?.closest<HTMLElement>('button.how');
    if (t?.dataset['how']) {
      ev.preventDefault();
      showExplain(t.dataset['how']);
    }
  });
  const dialog = document.getElementById('explain') as HTMLDialogElement | null;
  dialog?.addEventListener('click', (ev) => {
    if (ev.target === dialog) dialog.close();
  });
}
