/**
 * PNG export: the host produces the SVG (no native modules in the host bundle), the webview
 * rasterises it on a canvas at `scale`x and returns the bytes as base64.
 */
function svgSize(svg: string): { width: number; height: number } {
  const doc = new DOMParser().parseFromString(svg, 'image/svg+xml');
  const el = doc.documentElement;
  const num = (v: string | null) => (v && /^[\d.]+(px)?$/.test(v.trim()) ? parseFloat(v) : NaN);
  let width = num(el.getAttribute('width'));
  let height = num(el.getAttribute('height'));
  const vb = el.getAttribute('viewBox')?.trim().split(/[\s,]+/).map(Number);
  if ((!Number.isFinite(width) || !Number.isFinite(height)) && vb && vb.length === 4) {
    width = vb[2];
    height = vb[3];
  }
  if (!Number.isFinite(width) || !Number.isFinite(height) || width <= 0 || height <= 0) {
    width = 800;
    height = 600;
  }
  return { width, height };
}

function toBase64(bytes: Uint8Array): string {
  let s = '';
  const chunk = 0x8000;
  for (let i = 0; i < bytes.length; i += chunk) s += String.fromCharCode(...bytes.subarray(i, i + chunk));
  return btoa(s);
}

/** Browsers cap canvas size; stay well within it. */
const MAX_PIXELS = 16384 * 16384 / 4;
const MAX_SIDE = 16384;

export async function svgToPng(svg: string, scale: number): Promise<{ base64: string; width: number; height: number }> {
  const size = svgSize(svg);
  let s = Math.max(0.1, scale || 2);
  while ((size.width * s > MAX_SIDE || size.height * s > MAX_SIDE || size.width * size.height * s * s > MAX_PIXELS) && s > 0.25) s /= 2;
  const width = Math.max(1, Math.round(size.width * s));
  const height = Math.max(1, Math.round(size.height * s));
  const url = URL.createObjectURL(new Blob([svg], { type: 'image/svg+xml' }));
  try {
    const img = new Image();
    img.decoding = 'async';
    await new Promise<void>((resolve, reject) => {
      img.onload = () => resolve();
      img.onerror = () => reject(new Error('the SVG could not be rendered'));
      img.src = url;
    });
    const canvas = document.createElement('canvas');
    canvas.width = width;
    canvas.height = height;
    const ctx = canvas.getContext('2d');
    if (!ctx) throw new Error('no 2D canvas available');
    ctx.drawImage(img, 0, 0, width, height);
    const blob = await new Promise<Blob>((resolve, reject) => canvas.toBlob((b) => (b ? resolve(b) : reject(new Error('PNG encoding failed'))), 'image/png'));
    return { base64: toBase64(new Uint8Array(await blob.arrayBuffer())), width, height };
  } finally {
    URL.revokeObjectURL(url);
  }
}
