// The demo's simulated plant: what its sensors read at any time, and when its wearing machine
// fails and is repaired. Pure: every value is a function of the seed and the time (a hash of
// both, not a running random generator), so the same plant gives the same readings whether they
// are back-filled at start-up or sent live, and after a restart.
import { mulberry32 } from '../subgraphs/org/analytics/boosting.ts';

/** A twin as the plant simulates it: its metrics and their normal ranges. */
export interface SimulatedTwin {
  id: string;
  metrics: readonly { name: string; min?: number; max?: number }[];
}

/** One reading, as a device sends it (`ReadingInput`). */
export interface SensorReading {
  twinId: string;
  metric: string;
  at: string;
  value: number;
}

/** One run of the wearing twin: from `start` (a repair, or the plant's start) to its failure, then repaired at `repair`. */
export interface WearRun {
  index: number;
  start: Date;
  failure: Date;
  repair: Date;
}

export type FaultKind = 'spike' | 'stuck' | 'shift' | 'out-of-range';

/** A sensor fault: one metric of one twin reads wrong over [start, end). */
export interface Fault {
  kind: FaultKind;
  twinId: string;
  metric: string;
  start: Date;
  end: Date;
}

export interface PlantOptions {
  /** Everything random about the plant follows from it. */
  seed: number;
  twins: readonly SimulatedTwin[];
  /** The twin that wears out, and when its first run started. */
  wearing: { twinId: string; start: Date };
}

/** Sensors report once a second, live and in the back-filled history alike. */
export const SAMPLE_MS = 1000;
/** Runs to failure before the current one in the back-filled history: the health model needs five. */
export const HISTORY_RUNS = 6;
/** One fault somewhere in the plant in every such slot. */
export const FAULT_EVERY_MS = 3 * 60_000;
/** Lives are drawn in [LIFE_MIN_MS, LIFE_MIN_MS + LIFE_SPREAD_MS): an accelerated time scale, so a newcomer sees whole runs. */
const LIFE_MIN_MS = 20 * 60_000;
const LIFE_SPREAD_MS = 20 * 60_000;
/** A repair takes one to two minutes. */
const REPAIR_MIN_MS = 60_000;
/** Remaining life of the current run when the history is back-filled: the RUL alarm (a few minutes' horizon) fires some ten minutes later. */
const REMAINING_AT_BACKFILL_MS = 20 * 60_000;
const DAY_MS = 86_400_000;
/** Fault lengths; a spike is one reading. */
const FAULT_MS: Record<FaultKind, number> = { spike: SAMPLE_MS, stuck: 60_000, shift: 90_000, 'out-of-range': 30_000 };
const FAULT_KINDS = Object.keys(FAULT_MS) as FaultKind[];
/** What wear adds at failure, in fractions of the metric's normal span (vibration and temperature rise as a machine wears). */
const WEAR_GAIN = 0.5;
/** Curvature of the wear curve: e^(k·x) growth, as the damage propagation of NASA's C-MAPSS (Saxena et al. 2008). */
const WEAR_CURVATURE = 2;

/** FNV-1a of a string: folds the keys of a draw into one 32-bit seed. */
function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193);
  return hash >>> 0;
}

/** A uniform draw in [0, 1) that depends only on the seed and the keys. */
function draw(seed: number, ...keys: (string | number)[]): number {
  return mulberry32(fnv1a(`${seed}|${keys.join('|')}`))();
}

/** A standard normal draw (Box–Muller) that depends only on the seed and the keys. */
function gaussian(seed: number, ...keys: (string | number)[]): number {
  const u = 1 - draw(seed, ...keys, 'u');
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * draw(seed, ...keys, 'v'));
}

/** A metric's normal range; one with only a minimum gets a span of 100 above it. */
function range(metric: SimulatedTwin['metrics'][number]): { low: number; span: number } {
  const low = metric.min ?? 0;
  return { low, span: (metric.max ?? low + 100) - low };
}

/** Wear in [0, 1] at a fraction of a run's life: slow at first, accelerating toward failure. */
export function wearAt(fraction: number, initial: number): number {
  const x = Math.min(1, Math.max(0, fraction));
  return initial + (1 - initial) * (Math.expm1(WEAR_CURVATURE * x) / Math.expm1(WEAR_CURVATURE));
}

/** When the plant must have started so that, at `now`, its wearing twin has `HISTORY_RUNS` runs to failure behind it and is some minutes into the next. */
export function backfillStart(seed: number, now: Date): Date {
  let start = now.getTime() - (lifeOf(seed, HISTORY_RUNS) - REMAINING_AT_BACKFILL_MS);
  for (let run = 0; run < HISTORY_RUNS; run++) start -= lifeOf(seed, run) + repairOf(seed, run);
  return new Date(start);
}

const lifeOf = (seed: number, run: number) => LIFE_MIN_MS + Math.round((draw(seed, 'life', run) * LIFE_SPREAD_MS) / SAMPLE_MS) * SAMPLE_MS;
const repairOf = (seed: number, run: number) => REPAIR_MIN_MS + Math.round((draw(seed, 'repair', run) * REPAIR_MIN_MS) / SAMPLE_MS) * SAMPLE_MS;

/** The simulated plant: deterministic given its options and the time. */
export class SimulatedPlant {
  private readonly series: { twinId: string; metric: string }[];

  constructor(private readonly options: PlantOptions) {
    this.series = options.twins.flatMap((twin) => twin.metrics.map((metric) => ({ twinId: twin.id, metric: metric.name })));
    if (!options.twins.some((twin) => twin.id === options.wearing.twinId))
      throw new TypeError(`the wearing twin ${options.wearing.twinId} is not one of the plant's`);
  }

  /** The wearing twin's run under way or under repair at `at` (the first one before the plant started). */
  runAt(at: Date): WearRun {
    const { seed } = this.options;
    let start = this.options.wearing.start.getTime();
    for (let index = 0; ; index++) {
      const failure = start + lifeOf(seed, index);
      const repair = failure + repairOf(seed, index);
      if (at.getTime() < repair) return { index, start: new Date(start), failure: new Date(failure), repair: new Date(repair) };
      start = repair;
    }
  }

  /** The wearing twin's failures and repairs in (from, to], in time order. */
  maintenance(from: Date, to: Date): { type: 'FAILURE' | 'REPAIR'; at: Date }[] {
    const events: { type: 'FAILURE' | 'REPAIR'; at: Date }[] = [];
    for (let run = this.runAt(from); run.start <= to; run = this.runAt(run.repair)) {
      for (const event of [
        { type: 'FAILURE' as const, at: run.failure },
        { type: 'REPAIR' as const, at: run.repair },
      ])
        if (event.at > from && event.at <= to) events.push(event);
    }
    return events;
  }

  /** The wearing twin's wear at `at`; null while it is failed and under repair. */
  wear(at: Date): number | null {
    const run = this.runAt(at);
    if (at >= run.failure) return null;
    const fraction = (at.getTime() - run.start.getTime()) / (run.failure.getTime() - run.start.getTime());
    return wearAt(fraction, 0.05 * draw(this.options.seed, 'initial-wear', run.index));
  }

  /** The fault of the slot holding `at`: one per slot, on a metric of any twin. */
  faultAt(at: Date): Fault {
    const { seed } = this.options;
    const slot = Math.floor(at.getTime() / FAULT_EVERY_MS);
    const { twinId, metric } = this.series[Math.floor(draw(seed, 'fault-series', slot) * this.series.length)]!;
    const kind = FAULT_KINDS[Math.floor(draw(seed, 'fault-kind', slot) * FAULT_KINDS.length)]!;
    const latest = FAULT_EVERY_MS - FAULT_MS[kind];
    const start = slot * FAULT_EVERY_MS + Math.floor((draw(seed, 'fault-start', slot) * latest) / SAMPLE_MS) * SAMPLE_MS;
    return { kind, twinId, metric, start: new Date(start), end: new Date(start + FAULT_MS[kind]) };
  }

  /** Every twin's readings at `at`; none from the wearing twin while it is failed. */
  readings(at: Date): SensorReading[] {
    const fault = this.faultAt(at);
    return this.options.twins.flatMap((twin) => this.readingsOf(twin, at, fault));
  }

  /** The wearing twin's readings every `SAMPLE_MS` over [from, to), while it runs: its history. */
  history(from: Date, to: Date): SensorReading[] {
    const twin = this.options.twins.find((candidate) => candidate.id === this.options.wearing.twinId)!;
    const readings: SensorReading[] = [];
    for (let t = from.getTime(); t < to.getTime(); t += SAMPLE_MS) {
      const at = new Date(t);
      readings.push(...this.readingsOf(twin, at, this.faultAt(at)));
    }
    return readings;
  }

  /** A twin's readings at `at`, under the fault of `at`'s slot. */
  private readingsOf(twin: SimulatedTwin, at: Date, fault: Fault): SensorReading[] {
    const wear = twin.id === this.options.wearing.twinId ? this.wear(at) : undefined;
    if (wear === null) return [];
    return twin.metrics.map((metric) => {
      const faulty = fault.twinId === twin.id && fault.metric === metric.name && at >= fault.start && at < fault.end ? fault : null;
      // A stuck sensor repeats what it read when it got stuck.
      const stuck = faulty?.kind === 'stuck';
      const when = stuck ? faulty.start : at;
      const value = this.value(twin.id, metric, when, stuck && wear !== undefined ? (this.wear(when) ?? wear) : wear, faulty);
      return { twinId: twin.id, metric: metric.name, at: at.toISOString(), value: Number(value.toFixed(3)) };
    });
  }

  /**
   * A metric's value: a level inside its normal range, a daily pattern, Gaussian noise (3% of the
   * span), the wear's rise (`wear` undefined: the twin does not wear), and the fault's distortion.
   */
  private value(twinId: string, metric: SimulatedTwin['metrics'][number], at: Date, wear: number | undefined, fault: Fault | null): number {
    const { seed } = this.options;
    const { low, span } = range(metric);
    const key = `${twinId}/${metric.name}`;
    // A wearing metric starts lower, leaving room for its rise before it leaves the range.
    const level = wear === undefined ? 0.4 + 0.2 * draw(seed, 'level', key) : 0.3 + WEAR_GAIN * wear;
    const daily = 0.1 * Math.sin((2 * Math.PI * (at.getTime() % DAY_MS)) / DAY_MS + 2 * Math.PI * draw(seed, 'phase', key));
    const noise = 0.03 * gaussian(seed, 'noise', key, Math.floor(at.getTime() / SAMPLE_MS));
    const sign = draw(seed, 'fault-sign', key, fault?.start.getTime() ?? 0) < 0.5 ? -1 : 1;
    const distortion = fault?.kind === 'spike' ? 0.35 * sign : fault?.kind === 'shift' ? 0.2 * sign : 0;
    const fraction = fault?.kind === 'out-of-range' ? (sign > 0 ? 1.08 : -0.08) + noise : level + daily + noise + distortion;
    return low + span * fraction;
  }
}
