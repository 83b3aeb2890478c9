import { XMLParser, XMLValidator } from 'fast-xml-parser';
import t from 'tap';
import type { IntensityPoint } from '../../src/core/carbon.js';
import { validatePolicy } from '../../src/core/policy.js';
import { simulate } from '../../src/simulate/figures.js';
import { escapeXml, niceStep, renderChart } from '../../src/simulate/svg.js';

const T0 = Date.parse('2026-06-01T00:00:00Z');
const HOUR = 3_600_000;

type Node = Record<string, unknown>;
const parser = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '@', isArray: (name) => ['g', 'path', 'line', 'text', 'rect'].includes(name) });

function parse(svg: string): Node {
  const valid = XMLValidator.validate(svg);
  if (valid !== true) throw new Error(`not well-formed XML: ${JSON.stringify(valid)}`);
  return (parser.parse(svg) as { svg: Node }).svg;
}

const groups = (svg: Node): Node[] => svg.g as Node[];
const group = (svg: Node, id: string): Node => groups(svg).find((g) => g['@id'] === id)!;
const path = (svg: Node, id: string): Node | undefined => (svg.path as Node[]).find((p) => p['@id'] === id);
const texts = (n: Node): string[] => ((n.text as unknown[]) ?? []).map((x) => (typeof x === 'object' ? String((x as Node)['#text']) : String(x)));

/** The horizontal runs of a step path: [x1, x2, y] for each M/L pair at one height, and how many sub-paths. */
function runs(d: string): { runs: [number, number, number][]; subpaths: number } {
  const cmds = [...d.matchAll(/([ML])(-?[\d.]+),(-?[\d.]+)/g)].map((m) => ({ c: m[1]!, x: Number(m[2]), y: Number(m[3]) }));
  const out: [number, number, number][] = [];
  for (let i = 1; i < cmds.length; i++) {
    const a = cmds[i - 1]!;
    const b = cmds[i]!;
    if (b.c === 'L' && a.y === b.y && b.x > a.x) out.push([a.x, b.x, a.y]);
  }
  return { runs: out, subpaths: cmds.filter((c) => c.c === 'M').length };
}

function points(minutes: number, values: (number | null)[]): IntensityPoint[] {
  return values.flatMap((v, i) => (v === null ? [] : [{ timestamp: T0 + i * minutes * 60_000, durationMinutes: minutes, gCO2eqPerKWh: v }]));
}

const policy = validatePolicy({
  carbon: [
    { measuredEmission: 300, allowedMaxReplicaCount: '50%' },
    { measuredEmission: 500, allowedMaxReplicaCount: 10 },
  ],
});

function chart(values: (number | null)[], minutes = 60, title = 'test chart') {
  const sim = simulate({ policy, points: points(minutes, values), declared: 100, minReplicas: 0, source: 'test' });
  return { sim, svg: renderChart({ title, policy, declared: 100, intervals: sim.intervals, operator: sim.operator.intervals }) };
}

t.test('the chart is well-formed SVG with the expected series', async (t) => {
  const { svg: text } = chart([250, 350, 520, 290]);
  const svg = parse(text);
  t.equal(svg['@xmlns'], 'http://www.w3.org/2000/svg');
  t.ok(Number(svg['@width']) > 0 && Number(svg['@height']) > 0);
  t.same((svg.path as Node[]).map((p) => p['@id']).sort(), ['cap', 'cap-operator', 'intensity']);
  t.same(group(svg, 'thresholds').line && (group(svg, 'thresholds').line as Node[]).map((l) => Number(l['@data-threshold'])), [300, 500]);
  // Axis titles with units, and time labels on the hours.
  const allText = [...groups(svg).flatMap(texts), ...texts(svg)].join('\n');
  t.match(allText, /Carbon intensity \(gCO2eq\/kWh\)/);
  t.match(allText, /Replica cap \(maxReplicaCount\)/);
  t.match(allText, /Time \(UTC\)/);
  t.same(texts(group(svg, 'axis-time')), ['06-01 00:00', '01:00', '02:00', '03:00', '04:00']);
  t.same(texts(group(svg, 'legend')), [
    'Carbon intensity (left axis)',
    'Replica cap, following the forecast (right axis)',
    'Replica cap, Azure operator re-evaluating at each forecast point (right axis)',
    'Band threshold',
  ]);
  t.same(texts(group(svg, 'threshold-labels')), ['>= 300: max 50% = 50', '>= 500: max 10']);
});

t.test('the series trace the intensities and the caps', async (t) => {
  const { svg: text } = chart([250, 350, 520, 290]);
  const svg = parse(text);
  // Map y back to intensity through the two threshold lines (300 and 500 gCO2eq/kWh).
  const th = (group(svg, 'thresholds').line as Node[]).map((l) => [Number(l['@data-threshold']), Number(l['@y1'])] as const);
  const [[v1, y1], [v2, y2]] = th as [readonly [number, number], readonly [number, number]];
  const intensityAt = (y: number) => v1 + ((y - y1) * (v2 - v1)) / (y2 - y1);
  const curve = runs(String(path(svg, 'intensity')!['@d']));
  t.equal(curve.subpaths, 1);
  const got = curve.runs.map(([, , y]) => Math.round(intensityAt(y)));
  t.same(got, [250, 350, 520, 290]);
  // Each run is one hour wide: equal widths.
  const widths = curve.runs.map(([a, b]) => Math.round(b - a));
  t.equal(new Set(widths).size, 1);

  // The cap: 100, 50, 10, 100. Its zero is the frame's bottom edge; the axis label "100" gives the scale.
  const frame = (svg.rect as Node[]).find((r) => r['@fill'] === 'none')!;
  const bottom = Number(frame['@y']) + Number(frame['@height']);
  const capAxis = group(svg, 'axis-cap').text as Node[];
  const label100 = capAxis.find((x) => String(x['#text']) === '100')!;
  const y100 = Number(label100['@y']) - 4; // labels sit 4 px below their tick for centring
  const capAt = (y: number) => Math.round(((bottom - y) / (bottom - y100)) * 100);
  t.same(
    runs(String(path(svg, 'cap')!['@d'])).runs.map(([, , y]) => capAt(y)),
    [100, 50, 10, 100],
  );
});

t.test('gaps break the intensity curve and are shaded', async (t) => {
  const { sim, svg: text } = chart([400, null, 600]);
  const svg = parse(text);
  t.equal(runs(String(path(svg, 'intensity')!['@d'])).subpaths, 2, 'two pieces around the gap');
  const gaps = group(svg, 'gaps').rect as Node[];
  t.equal(gaps.length, 1);
  t.equal(gaps[0]!['@data-start'], new Date(T0 + HOUR).toISOString());
  t.equal(gaps[0]!['@data-end'], new Date(T0 + 2 * HOUR).toISOString());
  // The cap goes on through the gap (onMissingData declared: 100), so it stays one line.
  t.equal(runs(String(path(svg, 'cap')!['@d'])).subpaths, 1);
  t.same(
    sim.intervals.map((iv) => iv.cap),
    [50, 100, 10],
  );
  t.ok(texts(group(svg, 'legend')).includes('No data (onMissingData applies)'));
});

t.test('text is escaped', async (t) => {
  const title = `a<b & "c" 'd'>`;
  const { svg: text } = chart([250, 350], 60, title);
  t.notMatch(text, /a<b/);
  // The parser decodes entities back to the original title.
  const decoder = new XMLParser({ ignoreAttributes: false, processEntities: true, htmlEntities: true });
  t.equal((decoder.parse(text) as { svg: { title: string } }).svg.title, title);
  t.equal(escapeXml(`<&>"'`), '&lt;&amp;&gt;&quot;&#39;');
});

t.test('axis steps are round numbers', async (t) => {
  t.equal(niceStep(800, 5), 200);
  t.equal(niceStep(100, 5), 20);
  t.equal(niceStep(12, 5), 2.5);
  t.equal(niceStep(0, 5), 1);
  t.throws(() => renderChart({ title: 'x', policy, declared: 1, intervals: [] }), /nothing to chart/);
});

t.test('a day of 30-minute points gets at most about 12 time labels', async (t) => {
  const values = Array.from({ length: 48 }, (_, i) => 300 + 200 * Math.sin(i / 7));
  const svg = parse(chart(values, 30).svg);
  const labels = texts(group(svg, 'axis-time'));
  t.ok(labels.length >= 6 && labels.length <= 13, `${labels.length} labels`);
  t.equal(labels[0], '06-01 00:00');
  t.equal(labels[labels.length - 1], '06-02 00:00', 'midnight shows the date');
});

/** A chart of `doc` over hourly `values`, with the percentile series simulate computes. */
function chartOf(doc: unknown, values: number[], operator = true) {
  const p = validatePolicy(doc);
  const sim = simulate({ policy: p, points: points(60, values), declared: 40, minReplicas: 0, source: 'test' });
  const svg = renderChart({
    title: 't',
    policy: p,
    declared: 40,
    intervals: sim.intervals,
    thresholds: sim.thresholds,
    ...(operator ? { operator: sim.operator.intervals } : {}),
  });
  return { sim, svg: parse(svg) };
}

// 24 hours rising 100, 110, ... 330 then falling back: the window slides over a changing mix.
const RAMP = [...Array.from({ length: 24 }, (_, i) => 100 + 10 * i), ...Array.from({ length: 12 }, (_, i) => 330 - 20 * i)];
const PERCENTILE = { carbon: [{ measuredEmission: 'p80', allowedMaxReplicaCount: '25%' }], relativeWindow: { past: '6h', ahead: '6h' } };

t.test('a percentile band is drawn as a step line through its resolved thresholds, with its label', async (t) => {
  const { sim, svg } = chartOf(PERCENTILE, RAMP);
  const line = ((group(svg, 'thresholds').path as Node[]) ?? []).find((p) => p['@data-percentile'] === '80');
  t.ok(line, 'the p80 step line is there');
  t.equal(group(svg, 'thresholds').line, undefined, 'no fixed threshold line: the policy has none');
  // The line steps: as many heights as the resolved p80 takes distinct values.
  const series = sim.thresholds[0]!;
  const values = new Set(series.steps.flatMap((s) => (s.value === null ? [] : [s.value])));
  t.ok(values.size > 3, `p80 moves as the window slides (${[...values].join(', ')})`);
  const heights = new Set(runs(String(line!['@d'])).runs.map(([, , y]) => y));
  t.equal(heights.size, values.size, 'one height per resolved value');
  // The line's value at each step is the threshold the decision used there.
  for (const iv of sim.intervals.filter((i) => i.rule !== null)) {
    const step = series.steps.find((s) => s.start <= iv.start && iv.start < s.end)!;
    t.match(iv.rule!, new RegExp(`^measuredEmission>=p80 \\(${step.value}\\)$`), `${new Date(iv.start).toISOString()}: ${iv.rule}`);
  }
  const [low, high] = [Math.min(...values), Math.max(...values)];
  t.same(texts(group(svg, 'threshold-labels')), [`>= p80 (${low} to ${high}): max 25% = 10`]);
  t.ok(texts(group(svg, 'legend')).includes('Percentile threshold, resolved as the window slides (left axis)'));
});

t.test('the legend lists only what was drawn', async (t) => {
  const legendOf = (svg: Node) => ((group(svg, 'legend').text as Node[]) ?? []).map((x) => String(x['@data-legend']));
  t.same(
    legendOf(chartOf(PERCENTILE, RAMP, false).svg),
    ['intensity', 'cap', 'thresholds-percentile'],
    'percentile only: no band threshold, no operator, no gaps',
  );
  const fixed = { carbon: [{ measuredEmission: 300, allowedMaxReplicaCount: 10 }] };
  t.same(legendOf(chartOf(fixed, RAMP).svg), ['intensity', 'cap', 'cap-operator', 'thresholds'], 'absolute: no percentile entry');
  const mixed = { ...PERCENTILE, carbon: [...PERCENTILE.carbon, { measuredEmission: 300, allowedMaxReplicaCount: 1 }] };
  t.same(legendOf(chartOf(mixed, RAMP).svg), ['intensity', 'cap', 'cap-operator', 'thresholds', 'thresholds-percentile']);
  // Five hours of data: never 6 h in the window, so p80 is never resolved and nothing is drawn for it.
  const short = chartOf(PERCENTILE, [300, 310, 320, 330, 340]);
  t.same(
    short.sim.thresholds[0]!.steps.map((s) => s.value),
    [null],
  );
  t.equal(group(short.svg, 'thresholds').path, undefined, 'no step line');
  t.same(legendOf(short.svg), ['intensity', 'cap', 'cap-operator']);
  t.same(texts(group(short.svg, 'threshold-labels')), []);
});

t.test('threshold labels close together are spread apart, not stacked', async (t) => {
  // At the end p50 is 150 and p55 170, with a fixed band at 160: lines 8 px apart, closer than a text line.
  const doc = {
    carbon: [
      { measuredEmission: 'p50', allowedMaxReplicaCount: '50%' },
      { measuredEmission: 'p55', allowedMaxReplicaCount: '40%' },
      { measuredEmission: 160, allowedMaxReplicaCount: 5 },
    ],
    relativeWindow: { past: '6h', ahead: '6h' },
  };
  const { svg } = chartOf(doc, RAMP);
  const ys = ((group(svg, 'threshold-labels').text as Node[]) ?? []).map((x) => Number(x['@y'])).sort((a, b) => a - b);
  t.equal(ys.length, 3);
  for (let i = 1; i < ys.length; i++) t.ok(ys[i]! - ys[i - 1]! >= 14, `labels ${ys[i - 1]} and ${ys[i]} are a text line apart`);
  const frame = (svg.rect as Node[]).find((r) => r['@fill'] === 'none')!;
  t.ok(ys[ys.length - 1]! <= Number(frame['@y']) + Number(frame['@height']), 'inside the plot');
});
