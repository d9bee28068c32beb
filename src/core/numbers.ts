/** Number formatting shared by the CLI, the exports and the webview. */

/** 124439808 → "124.4M"; 1.2e9 → "1.2B"; 950 → "950"; 999960 → "1M" (never "1000K"). */
export function compact(n: number): string {
  const abs = Math.abs(n);
  if (abs < 1000) return String(n);
  const units = ['K', 'M', 'B', 'T'];
  let i = Math.min(units.length - 1, Math.floor(Math.log10(abs) / 3) - 1);
  // Rounding can carry into the next unit (999,960 is 999.96K, shown as 1M).
  for (;;) {
    const x = n / 10 ** (3 * (i + 1));
    const digits = Math.abs(x) >= 10 ? 1 : 2;
    const shown = Number(x.toFixed(digits));
    if (Math.abs(shown) >= 1000 && i < units.length - 1) {
      i++;
      continue;
    }
    return `${shown.toFixed(digits).replace(/\.?0+$/, '')}${units[i]}`;
  }
}

/** 124439808 → "124,439,808". */
export function exact(n: number): string {
  return Math.round(n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** 497759232 → "474.7 MiB". */
export function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let x = n;
  let i = 0;
  while (x >= 1024 && i < units.length - 1) {
    x /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${x.toFixed(1)} ${units[i]}`;
}

/** Share of a whole as a percentage string: "30.9%". */
export function percent(part: number, whole: number): string {
  if (whole <= 0) return '0%';
  const p = (100 * part) / whole;
  return p >= 10 ? `${p.toFixed(1)}%` : p >= 0.1 ? `${p.toFixed(2)}%` : p > 0 ? '<0.1%' : '0%';
}
