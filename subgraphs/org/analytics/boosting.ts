// Gradient-boosted regression trees, small and deterministic, for the remaining-useful-life model.
//
// Why by hand: the npm random forest (ml-random-forest on ml-cart) searches exact splits by
// sorting every feature at every node, and keeps each node as an object with its statistics;
// a forest accurate enough for RUL is slow to train on a fleet's history and serializes to
// megabytes, over the bound a model stored per twin kind must keep. Boosting shallow trees on
// binned features (Friedman 2001 "Greedy function approximation", stochastic row sampling from
// Friedman 2002, histogram splits and the L2-regularized leaf of Chen & Guestrin 2016 XGBoost /
// Ke et al. 2017 LightGBM) trains in seconds and is a few hundred kB of plain JSON.

/** One tree, complete binary of fixed depth: node i has children 2i+1 (feature ≤ x) and 2i+2; `f[i]` −1 marks a leaf of value `x[i]`. */
export interface Tree {
  f: number[];
  x: number[];
}

/** A trained ensemble: plain JSON. */
export interface Ensemble {
  base: number;
  trees: Tree[];
}

export interface BoostingOptions {
  /** @default 200 */
  trees?: number;
  /** @default 5 */
  depth?: number;
  /** Shrinkage of each tree. @default 0.05 */
  learningRate?: number;
  /** Fewest training rows in a leaf. @default 20 */
  minLeaf?: number;
  /** Share of rows each tree is fitted on. @default 0.7 */
  subsample?: number;
  /** Bins per feature (≤ 256). @default 64 */
  bins?: number;
  /** L2 penalty on leaf values. @default 1 */
  lambda?: number;
}

/** Mulberry32: a small, fast 32-bit PRNG, enough for sampling rows and folds reproducibly from a seed. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Seven significant digits: what the model keeps of a number, so its JSON stays small; training uses the rounded value. */
const round = (value: number) => Number(value.toPrecision(7));

/** Predicts one row of features. */
export function predict(ensemble: Ensemble, features: ArrayLike<number>): number {
  let sum = ensemble.base;
  for (const tree of ensemble.trees) {
    let node = 0;
    while (tree.f[node]! >= 0) node = features[tree.f[node]!]! <= tree.x[node]! ? 2 * node + 1 : 2 * node + 2;
    sum += tree.x[node]!;
  }
  return sum;
}

/** Bin edges per feature from quantiles of its values: bin(v) is the first edge ≥ v. */
function binEdges(column: Float64Array, bins: number): number[] {
  const sorted = Float64Array.from(column).sort();
  const edges: number[] = [];
  for (let k = 1; k < bins; k++) {
    const edge = round(sorted[Math.floor((k * (sorted.length - 1)) / bins)]!);
    if (edges.length === 0 || edge > edges[edges.length - 1]!) edges.push(edge);
  }
  return edges;
}

/**
 * Fits `rows` (row-major, `width` features each) to `targets` by least squares.
 * Deterministic given `random`.
 */
export async function fitEnsemble(
  rows: Float64Array,
  width: number,
  targets: Float64Array,
  random: () => number,
  options: BoostingOptions = {},
): Promise<Ensemble> {
  const { trees: count = 200, depth = 5, learningRate = 0.05, minLeaf = 20, subsample = 0.7, bins = 64, lambda = 1 } = options;
  const n = targets.length;
  // Column-major bin indices: a histogram pass reads one feature's bins contiguously.
  const edges: number[][] = [];
  const binned = new Uint8Array(n * width);
  for (let f = 0; f < width; f++) {
    const column = new Float64Array(n);
    for (let r = 0; r < n; r++) column[r] = rows[r * width + f]!;
    const e = binEdges(column, bins);
    edges.push(e);
    for (let r = 0; r < n; r++) {
      let b = 0;
      while (b < e.length && column[r]! > e[b]!) b++;
      binned[f * n + r] = b;
    }
  }
  let base = 0;
  for (const y of targets) base += y;
  base = round(base / n);
  const fitted = new Float64Array(n).fill(base);
  const residual = new Float64Array(n);
  const ensemble: Ensemble = { base, trees: [] };
  const nodes = 2 ** (depth + 1) - 1;
  // The sampled rows of a tree, laid out so that each node's rows are one range [from, to).
  const layout = new Int32Array(n);
  const spare = new Int32Array(n);
  const from = new Int32Array(nodes);
  const to = new Int32Array(nodes);
  const splitBin = new Int32Array(nodes);
  // Per node: residual sums and row counts per (feature, bin), at offset node × width × bins;
  // allocated once, as a tree allocates thousands of them.
  const cells = width * bins;
  const sums = new Float64Array(nodes * cells);
  const counts = new Float64Array(nodes * cells);
  const live = new Uint8Array(nodes);
  const histogram = (node: number) => {
    const slot = node * cells;
    sums.fill(0, slot, slot + cells);
    counts.fill(0, slot, slot + cells);
    for (let f = 0; f < width; f++) {
      const column = f * n;
      const at = slot + f * bins;
      for (let i = from[node]!; i < to[node]!; i++) {
        const r = layout[i]!;
        const cell = at + binned[column + r]!;
        sums[cell]! += residual[r]!;
        counts[cell]!++;
      }
    }
  };

  for (let t = 0; t < count; t++) {
    for (let r = 0; r < n; r++) residual[r] = targets[r]! - fitted[r]!;
    let sampled = 0;
    for (let r = 0; r < n; r++) if (random() < subsample) layout[sampled++] = r;
    const tree: Tree = { f: new Array<number>(nodes).fill(-1), x: new Array<number>(nodes).fill(0) };
    live.fill(0);
    live[0] = 1;
    from[0] = 0;
    to[0] = sampled;
    histogram(0);
    for (let node = 0; node < nodes; node++) {
      if (!live[node]) continue;
      const slot = node * cells;
      const size = to[node]! - from[node]!;
      let total = 0;
      for (let b = 0; b < bins; b++) total += sums[slot + b]!;
      tree.x[node] = round((learningRate * total) / (size + lambda));
      if (2 * node + 2 >= nodes || size < 2 * minLeaf) continue;
      const parent = (total * total) / (size + lambda);
      let best = 1e-12;
      let bestFeature = -1;
      let bestBin = 0;
      for (let f = 0; f < width; f++) {
        let g = 0;
        let c = 0;
        for (let b = 0; b < edges[f]!.length; b++) {
          g += sums[slot + f * bins + b]!;
          c += counts[slot + f * bins + b]!;
          const rest = size - c;
          if (c < minLeaf || rest < minLeaf) continue;
          const gain = (g * g) / (c + lambda) + ((total - g) * (total - g)) / (rest + lambda) - parent;
          if (gain > best) {
            best = gain;
            bestFeature = f;
            bestBin = b;
          }
        }
      }
      if (bestFeature < 0) continue;
      tree.f[node] = bestFeature;
      tree.x[node] = edges[bestFeature]![bestBin]!;
      splitBin[node] = bestBin;
      // Stable partition of the node's range: left rows first.
      const column = bestFeature * n;
      let left = from[node]!;
      let right = 0;
      for (let i = from[node]!; i < to[node]!; i++) {
        const r = layout[i]!;
        if (binned[column + r]! <= bestBin) layout[left++] = r;
        else spare[right++] = r;
      }
      layout.set(spare.subarray(0, right), left);
      const [small, large] = left - from[node]! <= to[node]! - left ? [2 * node + 1, 2 * node + 2] : [2 * node + 2, 2 * node + 1];
      from[2 * node + 1] = from[node]!;
      to[2 * node + 1] = left;
      from[2 * node + 2] = left;
      to[2 * node + 2] = to[node]!;
      live[small] = live[large] = 1;
      // Histogram subtraction (LightGBM): count the smaller child; the larger is the parent minus it.
      histogram(small);
      for (let k = 0; k < cells; k++) {
        sums[large * cells + k] = sums[slot + k]! - sums[small * cells + k]!;
        counts[large * cells + k] = counts[slot + k]! - counts[small * cells + k]!;
      }
    }
    ensemble.trees.push(tree);
    // A tree at a time: training runs in a service, whose requests must not wait for the whole fit.
    await new Promise((resolve) => setImmediate(resolve));
    // The training rows' bins decide as the thresholds do (bin ≤ b ⟺ value ≤ edge b), without reading the rows.
    for (let r = 0; r < n; r++) {
      let node = 0;
      while (tree.f[node]! >= 0) node = binned[tree.f[node]! * n + r]! <= splitBin[node]! ? 2 * node + 1 : 2 * node + 2;
      fitted[r]! += tree.x[node]!;
    }
  }
  return ensemble;
}
