/** Writes src/core/perf/train-calibration.json: the efficiencies fitted on every published run. */
import { writeFileSync } from 'node:fs';
import { fit } from './train-fit.js';
import { loadTrainRecords, TRAINING_JSON } from './train-records.js';

const records = loadTrainRecords();
const cal = fit(records);
const out = new URL('../src/core/perf/train-calibration.json', import.meta.url);
writeFileSync(
  out,
  JSON.stringify(
    { source: TRAINING_JSON.replace(/^.*\/shared\//, 'shared/'), runs: records.length, ...cal },
    null,
    2,
  ) + '\n',
);
console.log(`fitted ${Object.keys(cal.groups).length} groups on ${records.length} runs`);
