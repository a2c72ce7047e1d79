/** Number formatting shared by the lab's views (pure; no DOM). */

const SI = ['', 'k', 'M', 'G', 'T', 'P', 'E'];

/** 1234567 → "1.23M"; keeps three significant digits. */
export function si(n: number, unit = ''): string {
  if (!Number.isFinite(n)) return '–';
  const neg = n < 0;
  let v = Math.abs(n);
  let i = 0;
  while (v >= 999.5 && i < SI.length - 1) {
    v /= 1000;
    i++;
  }
  const digits = v >= 100 || i === 0 && Number.isInteger(v) ? 0 : v >= 10 ? 1 : 2;
  return `${neg ? '-' : ''}${v.toFixed(digits)}${SI[i]}${unit}`;
}

/** Milliseconds as "850 ms", "12.3 s", "4 min 05 s", "1 h 02 min". */
export function duration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '–';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(s < 10 ? 2 : 1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${String(Math.floor(s % 60)).padStart(2, '0')} s`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} min`;
}

/** A loss with four significant digits. */
export const lossText = (v: number | null | undefined): string => (v == null || !Number.isFinite(v) ? '–' : v.toPrecision(4));

export { formatBytes } from '../lib/format';
