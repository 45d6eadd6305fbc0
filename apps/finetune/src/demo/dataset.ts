// demo/dataset.ts — the demo's bundled task: answer "What is the capital of X?" with the capital.
//
// A randomly initialised tiny model knows nothing, so the task is one it can learn from a few
// hundred examples in a minute: a fixed question template per country, the answer as completion.
// Validation asks the same facts with a second phrasing, to show how much transfers.

export const CAPITALS: readonly (readonly [string, string])[] = [
  ['France', 'Paris'],
  ['Germany', 'Berlin'],
  ['Italy', 'Rome'],
  ['Spain', 'Madrid'],
  ['Portugal', 'Lisbon'],
  ['Japan', 'Tokyo'],
  ['China', 'Beijing'],
  ['India', 'New Delhi'],
  ['Canada', 'Ottawa'],
  ['Mexico', 'Mexico City'],
  ['Brazil', 'Brasília'],
  ['Argentina', 'Buenos Aires'],
  ['Egypt', 'Cairo'],
  ['Kenya', 'Nairobi'],
  ['Norway', 'Oslo'],
  ['Sweden', 'Stockholm'],
  ['Finland', 'Helsinki'],
  ['Poland', 'Warsaw'],
  ['Greece', 'Athens'],
  ['Turkey', 'Ankara'],
  ['Russia', 'Moscow'],
  ['Australia', 'Canberra'],
  ['Chile', 'Santiago'],
  ['Peru', 'Lima'],
  ['Ireland', 'Dublin'],
  ['Austria', 'Vienna'],
  ['Hungary', 'Budapest'],
  ['Thailand', 'Bangkok'],
  ['Vietnam', 'Hanoi'],
  ['Nigeria', 'Abuja'],
  ['Morocco', 'Rabat'],
  ['Cuba', 'Havana'],
];

export interface DemoRecord {
  prompt: string;
  completion: string;
}

/** Training set: the first `countries` facts asked with the training phrasing, `copies` times each. */
export function demoTrainRecords(copies = 4, countries = CAPITALS.length): DemoRecord[] {
  const out: DemoRecord[] = [];
  for (let c = 0; c < copies; c++) {
    for (const [country, capital] of CAPITALS.slice(0, countries)) {
      out.push({ prompt: `What is the capital of ${country}?`, completion: `${capital}.` });
    }
  }
  return out;
}

/** Validation set: the same facts, phrased differently. */
export function demoValidRecords(countries = CAPITALS.length): DemoRecord[] {
  return CAPITALS.slice(0, Math.min(12, countries)).map(([country, capital]) => ({
    prompt: `Which city is the capital of ${country}?`,
    completion: `${capital}.`,
  }));
}

export function toJsonl(records: readonly DemoRecord[]): string {
  return `${records.map((r) => JSON.stringify(r)).join('\n')}\n`;
}
