/**
 * PNG from the SVG export, rasterised at 2x by resvg (`@resvg/resvg-js`, prebuilt binaries from
 * the npm registry). Loaded lazily so bundles that never make a PNG don't need the native module.
 *
 * Fonts: the SVG names font families that exist on common systems (unquoted, which resvg
 * requires inside a list); when none is present resvg falls back to the default family below,
 * and failing that to the first font it finds, so text renders whatever fonts are installed.
 */
import { ExportError } from './errors';
import { Checkpoint } from '../model';
import { SvgOptions, renderSvg } from './svg';

export interface PngOptions extends SvgOptions {
  /** Pixels per SVG unit (default 2). */
  scale?: number;
}

interface ResvgModule {
  Resvg: new (svg: string | Buffer, opts?: Record<string, unknown>) => { render(): { asPng(): Buffer; width: number; height: number } };
}

let resvg: ResvgModule | undefined;

function loadResvg(): ResvgModule {
  if (!resvg) {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      resvg = require('@resvg/resvg-js') as ResvgModule;
    } catch (e) {
      throw new ExportError(`PNG export needs @resvg/resvg-js (${(e as Error).message.split('\n')[0]}); export SVG instead`);
    }
  }
  return resvg;
}

/** Largest raster we make (pixels); 2x of a diagram taller than ~20,000 px would exceed it. */
const MAX_PIXELS = 160_000_000;

export function svgToPng(svg: string, scale = 2): Uint8Array {
  const m = /<svg\b[^>]*?\swidth="(\d+(?:\.\d+)?)"[^>]*?\sheight="(\d+(?:\.\d+)?)"/.exec(svg);
  if (m) {
    const area = Number(m[1]) * Number(m[2]);
    if (area * scale * scale > MAX_PIXELS) {
      // Keep memory bounded: a smaller scale, down to 1x; past that, ask for a shallower diagram.
      const fit = Math.sqrt(MAX_PIXELS / area);
      if (fit < 1) throw new ExportError(`the diagram is ${m[1]} x ${m[2]} px, too large for a PNG; export SVG or choose a smaller depth`);
      scale = Math.floor(fit * 100) / 100;
    }
  }
  const { Resvg } = loadResvg();
  const r = new Resvg(svg, {
    fitTo: { mode: 'zoom', value: scale },
    background: '#ffffff',
    font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans Mono' },
    shapeRendering: 2,
    textRendering: 1,
    logLevel: 'off',
  });
  const png = r.render().asPng();
  return new Uint8Array(png.buffer, png.byteOffset, png.byteLength);
}

export function renderPng(cp: Checkpoint, opts: PngOptions = {}): Uint8Array {
  return svgToPng(renderSvg(cp, opts), opts.scale ?? 2);
}
