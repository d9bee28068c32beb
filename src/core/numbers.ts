/** Number formatting shared by the CLI, the exports and the webview. */

/** 124439808 → "124.4M"; 1.2e9 → "1.2B"; 950 → "950". */
export function compact(n: number): string {
  const abs = Math.abs(n);
  const units: [number, string][] = [
    [1e12, 'T'],
    [1e9, 'B'],
    [1e6, 'M'],
    [1e3, 'K'],
  ];
  for (const [v, u] of units) {
    if (abs >= v) {
      const x = n / v;
      return `${x >= 100 ? x.toFixed(1) : x >= 10 ? x.toFixed(1) : x.toFixed(2)}${u}`.replace(/\.0+([A-Z])$/, '$1').replace(/(\.\d)0([A-Z])$/, '$1$2');
    }
  }
  return String(n);
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
