/**
 * Number formatting shared by the CLI, the exports, the warnings and the editor: one rule
 * everywhere, three significant digits (`7.17K`, `11.0M`, `37.7M`, `927M`, `124M`), or the exact
 * number with thousands separators where the exact value is the point.
 */

/**
 * `x` (0 ≤ x < 1000, already scaled to its unit) with three significant digits: `7.17`, `11.0`,
 * `927`. Rounding may carry to `1000`: callers move to the next unit then.
 */
function sig3(x: number): string {
  let s = x.toFixed(2);
  if (Number(s) >= 10) {
    s = x.toFixed(1);
    if (Number(s) >= 100) s = x.toFixed(0);
  }
  return s;
}

const COUNT_UNITS = ['K', 'M', 'B', 'T'];

/**
 * 124439808 → "124M"; 7168 → "7.17K"; 11010048 → "11.0M"; 1.2e9 → "1.20B"; 950 → "950";
 * 999960 → "1.00M" (never "1000K"). Three significant digits; below 1000 the number itself.
 */
export function compact(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  const abs = Math.abs(n);
  if (abs < 1000) return String(n);
  const sign = n < 0 ? '-' : '';
  let i = Math.max(0, Math.min(COUNT_UNITS.length - 1, Math.floor(Math.log10(abs) / 3) - 1));
  // log10's rounding may put it one unit too high.
  if (i > 0 && abs / 10 ** (3 * (i + 1)) < 1) i--;
  for (;;) {
    const x = abs / 10 ** (3 * (i + 1));
    const s = x >= 1000 ? x.toFixed(0) : sig3(x);
    if (Number(s) >= 1000 && i < COUNT_UNITS.length - 1) {
      i++;
      continue;
    }
    return `${sign}${s}${COUNT_UNITS[i]}`;
  }
}

/** 124439808 → "124,439,808". */
export function exact(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  const s = Math.round(Math.abs(n)).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return n < 0 ? `-${s}` : s;
}

const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/** 497759232 → "475 MiB"; 1610612736 → "1.50 GiB"; 512 → "512 B". Three significant digits. */
export function bytes(n: number): string {
  if (!Number.isFinite(n) || n < 0) return String(n);
  let x = n;
  let i = 0;
  // 1023.6 KiB reads as 1.00 MiB, not four digits.
  while (x >= 999.5 && i < BYTE_UNITS.length - 1) {
    x /= 1024;
    i++;
  }
  if (i === 0) return `${n} B`;
  return `${x >= 1000 ? x.toFixed(0) : sig3(x)} ${BYTE_UNITS[i]}`;
}

/**
 * A size for a message where both readings matter: "638 GiB (684,868,123,200 bytes)";
 * small sizes stay "512 bytes".
 */
export function bytesExact(n: number): string {
  if (!Number.isFinite(n) || n < 1024) return `${exact(n)} bytes`;
  return `${bytes(n)} (${exact(n)} bytes)`;
}

/** Share of a whole as a percentage string: "30.9%", "1.25%", "100%", "<0.1%". */
export function percent(part: number, whole: number): string {
  if (whole <= 0) return '0%';
  const p = (100 * part) / whole;
  if (p <= 0) return '0%';
  if (p < 0.1) return '<0.1%';
  return `${p >= 1000 ? p.toFixed(0) : sig3(p)}%`;
}
