import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { useEffect, useRef } from 'preact/hooks';

/** A reading appended live: time in ms since the epoch. */
export interface Point {
  at: number;
  value: number;
}

/** One metric over time: `history` as loaded, `live` appended as readings come; points older than `rangeMs` fall off. */
export function Chart({ metric, unit, history, live, rangeMs }: { metric: string; unit: string; history: Point[]; live: Point[]; rangeMs: number }) {
  const container = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);

  useEffect(() => {
    const element = container.current!;
    plot.current = new uPlot(
      {
        width: Math.max(320, element.clientWidth),
        height: 220,
        series: [{}, { label: `${metric} (${unit})`, stroke: '#1f4e79', width: 2, points: { show: false } }],
        axes: [{}, { label: unit }],
      },
      [[], []],
      element,
    );
    const resize = new ResizeObserver(() => plot.current?.setSize({ width: Math.max(320, element.clientWidth), height: 220 }));
    resize.observe(element);
    return () => {
      resize.disconnect();
      plot.current?.destroy();
      plot.current = null;
    };
  }, [metric, unit]);

  useEffect(() => {
    const since = Date.now() - rangeMs;
    const points = [...history, ...live].filter((point) => point.at >= since).sort((a, b) => a.at - b.at);
    plot.current?.setData([points.map((point) => point.at / 1000), points.map((point) => point.value)]);
  }, [history, live, rangeMs]);

  return <div class="chart" data-testid="chart" data-metric={metric} ref={container} />;
}
