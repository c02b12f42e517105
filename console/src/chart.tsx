import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { useEffect, useRef } from 'preact/hooks';

/** A reading appended live: time in ms since the epoch. */
export interface Point {
  at: number;
  value: number;
}

/** A reading's anomaly score: time in ms since the epoch, score 0 … 1. */
export interface Anomaly {
  at: number;
  score: number;
}

/** A time window in ms since the epoch. */
export interface Span {
  from: number;
  to: number;
}

/** A metric's normal range; either end may be open. */
export interface Band {
  min: number | null;
  max: number | null;
}

const HEIGHT = 220;
const BAND_FILL = 'rgba(46, 139, 87, 0.12)';
const ANOMALY = '214, 69, 69';

/** What the chart draws besides its series, read at every redraw. */
interface Overlay {
  band: Band;
  anomalies: Anomaly[];
}

/** The metric's normal band behind the readings. */
function drawBand(u: uPlot, { band }: Overlay) {
  if (band.min === null && band.max === null) return;
  const { ctx, bbox } = u;
  const bottom = bbox.top + bbox.height;
  const clamp = (y: number) => Math.min(bottom, Math.max(bbox.top, y));
  const top = band.max === null ? bbox.top : clamp(u.valToPos(band.max, 'y', true));
  const low = band.min === null ? bottom : clamp(u.valToPos(band.min, 'y', true));
  ctx.save();
  ctx.fillStyle = BAND_FILL;
  ctx.fillRect(bbox.left, top, bbox.width, low - top);
  ctx.restore();
}

/** A mark at each anomalous reading's time, the stronger the higher its score. */
function drawAnomalies(u: uPlot, { anomalies }: Overlay) {
  const { ctx, bbox } = u;
  ctx.save();
  for (const { at, score } of anomalies) {
    const x = u.valToPos(at / 1000, 'x', true);
    if (x < bbox.left || x > bbox.left + bbox.width) continue;
    ctx.strokeStyle = ctx.fillStyle = `rgba(${ANOMALY}, ${0.3 + 0.7 * score})`;
    ctx.lineWidth = 2 * devicePixelRatio;
    ctx.beginPath();
    ctx.moveTo(x, bbox.top);
    ctx.lineTo(x, bbox.top + bbox.height);
    ctx.stroke();
    ctx.beginPath();
    ctx.moveTo(x - 6 * devicePixelRatio, bbox.top);
    ctx.lineTo(x + 6 * devicePixelRatio, bbox.top);
    ctx.lineTo(x, bbox.top + 9 * devicePixelRatio);
    ctx.fill();
  }
  ctx.restore();
}

/**
 * One metric over `span`: `history` as loaded, `live` appended as readings come, the normal band
 * and anomalous readings marked. `following`: the span ends now and moves on with the clock.
 * Dragging across the chart asks `onZoom` for the window selected.
 */
export function Chart({
  metric,
  unit,
  history,
  live,
  span,
  following,
  band,
  anomalies,
  onZoom,
}: {
  metric: string;
  unit: string;
  history: Point[];
  live: Point[];
  span: Span;
  following: boolean;
  band: Band;
  anomalies: Anomaly[];
  onZoom: (span: Span) => void;
}) {
  const container = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const overlay = useRef<Overlay>({ band, anomalies });
  overlay.current = { band, anomalies };
  const zoom = useRef(onZoom);
  zoom.current = onZoom;

  useEffect(() => {
    const element = container.current!;
    plot.current = new uPlot(
      {
        width: Math.max(320, element.clientWidth),
        height: HEIGHT,
        series: [{}, { label: `${metric} (${unit})`, stroke: '#1f4e79', width: 2, points: { show: false } }],
        axes: [{}, { label: unit }],
        // The normal band stays in view with the readings.
        scales: {
          y: {
            range: (_u, min, max) => {
              const { band: normal } = overlay.current;
              const low = Math.min(...[min, normal.min].filter((value): value is number => value !== null));
              const high = Math.max(...[max, normal.max].filter((value): value is number => value !== null));
              return Number.isFinite(low) && Number.isFinite(high) ? uPlot.rangeNum(low, high, 0.1, true) : [0, 1];
            },
          },
        },
        // A drag selects a window to load at finer buckets, rather than stretching what is loaded.
        cursor: { drag: { x: true, y: false, setScale: false } },
        hooks: {
          drawClear: [(u) => drawBand(u, overlay.current)],
          draw: [(u) => drawAnomalies(u, overlay.current)],
          setSelect: [
            (u) => {
              if (u.select.width < 2) return;
              const from = u.posToVal(u.select.left, 'x') * 1000;
              const to = u.posToVal(u.select.left + u.select.width, 'x') * 1000;
              u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
              zoom.current({ from, to });
            },
          ],
        },
      },
      [[], []],
      element,
    );
    const resize = new ResizeObserver(() => plot.current?.setSize({ width: Math.max(320, element.clientWidth), height: HEIGHT }));
    resize.observe(element);
    return () => {
      resize.disconnect();
      plot.current?.destroy();
      plot.current = null;
    };
  }, [metric, unit]);

  useEffect(() => {
    const to = following ? Date.now() : span.to;
    const from = to - (span.to - span.from);
    const points = [...history, ...live].filter((point) => point.at >= from && point.at <= to).sort((a, b) => a.at - b.at);
    plot.current?.setData([points.map((point) => point.at / 1000), points.map((point) => point.value)]);
    plot.current?.setScale('x', { min: from / 1000, max: to / 1000 });
  }, [history, live, span, following]);

  useEffect(() => plot.current?.redraw(false), [band, anomalies]);

  return <div class="chart" data-testid="chart" data-metric={metric} ref={container} />;
}
