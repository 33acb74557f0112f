/**
 * The Serving view's inputs (engine, plan, formats, lengths, concurrencies, SLO limits). Built once and kept in the
 * page like the training form, so a recompute never replaces a field being typed in.
 */
import { catalogs } from '../catalog';
import { DEGREES, ENGINES, field, number, select, type Update } from '../controls';
import { el } from '../fmt';
import type { State } from '../state';
import { parseConcurrencies } from './serving-run';

export function servingForm(s: State, update: Update): HTMLElement {
  const deg = (id: string, v: number, f: (x: number) => void) =>
    select(
      id,
      DEGREES.map((d) => [String(d), String(d)]),
      String(v),
      (x) => f(Number(x)),
    );
  const precisions: [string, string][] = [
    ['auto', 'auto (checkpoint)'],
    ...[...new Set([...catalogs.precisions, 'nvfp4', 'mxfp4'])].map((p): [string, string] => [p, p]),
  ];
  const kvs: [string, string][] = [
    ['auto', 'auto (engine default)'],
    ...catalogs.kvDtypes.map((p): [string, string] => [p, p]),
  ];
  const conc = el('input', {
    id: 'serving-conc',
    type: 'text',
    value: s.sConc,
    autocomplete: 'off',
    spellcheck: 'false',
  });
  const concMsg = el('small', { class: 'status', id: 'serving-conc-msg' });
  conc.addEventListener('change', () => {
    try {
      const list = parseConcurrencies(conc.value);
      concMsg.textContent = '';
      concMsg.className = 'status';
      update({ sConc: list.join(',') });
    } catch (e) {
      concMsg.textContent = (e as Error).message;
      concMsg.className = 'status error';
    }
  });
  const slo = (id: string, v: number, f: (x: number) => void) => number(id, v, 0, 1e7, 0.1, f);
  return el(
    'div',
    { class: 'serving-form' },
    el(
      'div',
      { class: 'row three' },
      field(
        'Engine',
        select('serving-engine', ENGINES, s.sEngine, (v) => update({ sEngine: v })),
      ),
      field(
        'Weights',
        select('serving-precision', precisions, s.sPrecision, (v) => update({ sPrecision: v })),
      ),
      field(
        'KV cache',
        select('serving-kv', kvs, s.sKv, (v) => update({ sKv: v })),
      ),
      field(
        'TP',
        deg('serving-tp', s.sTp, (v) => update({ sTp: v })),
        'attention, per DP rank',
      ),
      field(
        'EP',
        deg('serving-ep', s.sEp, (v) => update({ sEp: v })),
        'MoE experts',
      ),
      field(
        'Attention DP',
        deg('serving-adp', s.sAdp, (v) => update({ sAdp: v })),
        'ranks',
      ),
      field(
        'ISL',
        number('serving-isl', s.sIsl, 1, 1_048_576, 1, (v) => update({ sIsl: v })),
        'input tokens',
      ),
      field(
        'OSL',
        number('serving-osl', s.sOsl, 1, 1_048_576, 1, (v) => update({ sOsl: v })),
        'output tokens',
      ),
      field(
        'SLO TTFT ms',
        slo('serving-slo-ttft', s.sloTtft, (v) => update({ sloTtft: v })),
        '0 = none',
      ),
      field(
        'SLO TPOT ms',
        slo('serving-slo-tpot', s.sloTpot, (v) => update({ sloTpot: v })),
        '0 = none',
      ),
    ),
    el(
      'label',
      { class: 'field' },
      el('span', { text: 'Concurrencies (users in a closed loop, one simulation each)' }),
      conc,
      concMsg,
    ),
  );
}
