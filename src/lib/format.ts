/**
 * The one byte-size formatter of the project (messages, the page, the engine's refusals): binary units, as memory
 * and files are counted in powers of 1024. Pure; imports nothing.
 */
const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

/** 12 → "12 bytes", 1536 → "1.5 KiB", 52428800 → "50.0 MiB", 1986422374 → "1.85 GiB"; "–" for nonsense. */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n) || n < 0) return '–';
  if (n < KiB) return `${Math.round(n)} bytes`;
  if (n < MiB) return `${(n / KiB).toFixed(1)} KiB`;
  if (n < GiB) return `${(n / MiB).toFixed(1)} MiB`;
  return `${(n / GiB).toFixed(2)} GiB`;
}
