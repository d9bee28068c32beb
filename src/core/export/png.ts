/**
 * PNG from the SVG export, rasterised at 2x by resvg compiled to WebAssembly
 * (`@resvg/resvg-wasm`) with the DejaVu fonts (`dejavu-fonts-ttf`) loaded from files we ship:
 * no native module, no system fonts, so the CLI, the editor's worker and the tests make the
 * same bytes on every machine. The build copies the .wasm and the fonts into dist/ beside the
 * bundles (the .vsix carries no node_modules); from the sources (mocha) they come from
 * node_modules.
 *
 * The SVG names font families common systems have, then `DejaVu Sans` / `DejaVu Sans Mono`;
 * with only DejaVu loaded, resvg takes those.
 */
import * as fs from 'fs';
import * as path from 'path';
import { ExportError } from './errors';
import { Checkpoint } from '../model';
import { defineExport } from './define';
import { SvgOptions, renderSvg } from './svg';

export interface PngOptions extends SvgOptions {
  /** Pixels per SVG unit (default 2). */
  scale?: number;
}

type ResvgWasm = typeof import('@resvg/resvg-wasm');

/** The faces the SVG uses: regular, bold and italic of the sans and the monospace family. */
export const PNG_FONTS = ['DejaVuSans.ttf', 'DejaVuSans-Bold.ttf', 'DejaVuSans-Oblique.ttf', 'DejaVuSansMono.ttf', 'DejaVuSansMono-Bold.ttf', 'DejaVuSansMono-Oblique.ttf'];

/** Where dist/ keeps them (scripts/build.mjs copies them there). */
export const PNG_WASM_FILE = 'resvg.wasm';
export const PNG_FONT_DIR = 'fonts';

let engine: Promise<{ resvg: ResvgWasm; fonts: Uint8Array[] }> | undefined;

/** A file shipped beside the bundle, else the one in node_modules (running from the sources). */
function asset(bundled: string, inPackage: string): string {
  const beside = path.join(__dirname, bundled);
  if (fs.existsSync(beside)) return beside;
  try {
    return require.resolve(inPackage);
  } catch {
    throw new ExportError(`PNG export is missing ${bundled} (neither beside ${__dirname} nor in node_modules); export SVG instead`);
  }
}

function loadEngine(): Promise<{ resvg: ResvgWasm; fonts: Uint8Array[] }> {
  if (!engine) {
    engine = (async () => {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const resvg = require('@resvg/resvg-wasm') as ResvgWasm;
      await resvg.initWasm(fs.readFileSync(asset(PNG_WASM_FILE, '@resvg/resvg-wasm/index_bg.wasm')));
      const fonts = PNG_FONTS.map((f) => new Uint8Array(fs.readFileSync(asset(path.join(PNG_FONT_DIR, f), `dejavu-fonts-ttf/ttf/${f}`))));
      return { resvg, fonts };
    })();
    // A failed start may be retried (a missing file can be put back).
    engine.catch(() => (engine = undefined));
  }
  return engine;
}

/** Largest raster we make (pixels); 2x of a diagram taller than ~20,000 px would exceed it. */
const MAX_PIXELS = 160_000_000;

export async function svgToPng(svg: string, scale = 2): Promise<Uint8Array> {
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
  const { resvg, fonts } = await loadEngine();
  const r = new resvg.Resvg(svg, {
    fitTo: { mode: 'zoom', value: scale },
    background: '#ffffff',
    font: { fontBuffers: fonts, defaultFontFamily: 'DejaVu Sans Mono', sansSerifFamily: 'DejaVu Sans', monospaceFamily: 'DejaVu Sans Mono' },
    shapeRendering: 2,
    textRendering: 1,
  });
  try {
    const image = r.render();
    try {
      return image.asPng();
    } finally {
      image.free();
    }
  } finally {
    r.free();
  }
}

export function renderPng(cp: Checkpoint, opts: PngOptions = {}): Promise<Uint8Array> {
  return svgToPng(renderSvg(cp, opts), opts.scale ?? 2);
}

export const pngExport = defineExport({
  id: 'png',
  label: 'PNG image',
  menuLabel: 'Export as PNG…',
  extension: 'png',
  binary: true,
  group: 'image',
  help: 'the SVG diagram as an image, 2x (same bytes on every machine)',
  render: (cp, o) => renderPng(cp, { depth: o.depth, unfold: o.unfold, scale: o.scale }),
});
