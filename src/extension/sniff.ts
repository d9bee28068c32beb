/**
 * Content sniffing for files whose name says little (`*.bin`): is this a checkpoint Weightscope
 * reads? Looks at the first bytes only. Pure (no vscode import).
 */
export type SniffResult = 'safetensors' | 'pytorch-zip' | 'pytorch-legacy' | 'gguf' | null;

/** Bytes worth reading for `sniff`. */
export const SNIFF_BYTES = 512;

export function sniff(head: Uint8Array, fileSize = Infinity): SniffResult {
  if (head.length >= 4 && head[0] === 0x47 && head[1] === 0x47 && head[2] === 0x55 && head[3] === 0x46) return 'gguf'; // "GGUF"
  if (head.length >= 30 && head[0] === 0x50 && head[1] === 0x4b && head[2] === 0x03 && head[3] === 0x04) {
    // A zip: PyTorch's first member is `<archive>/data.pkl` (or `.data/version`, `byteorder`...).
    const nameLen = head[26] | (head[27] << 8);
    const name = String.fromCharCode(...head.subarray(30, Math.min(head.length, 30 + nameLen)));
    if (/(^|\/)(data\.pkl|\.data\/version|version|byteorder|\.format_version|\.storage_alignment)$/.test(name) || /\/data\//.test(name)) return 'pytorch-zip';
    return null;
  }
  // Legacy torch.save: pickle protocol 2 and the long magic number 0x1950a86a20f9469cfc6c.
  if (head.length >= 4 && head[0] === 0x80 && head[1] === 0x02 && head[2] === 0x8a && head[3] === 0x0a) return 'pytorch-legacy';
  // safetensors: u64 little-endian header length, then a JSON object.
  if (head.length >= 10) {
    let n = 0;
    for (let i = 7; i >= 0; i--) n = n * 256 + head[i];
    if (n >= 2 && n <= 100 * 1024 * 1024 && n + 8 <= fileSize) {
      let i = 8;
      while (i < head.length && (head[i] === 0x20 || head[i] === 0x0a || head[i] === 0x0d || head[i] === 0x09)) i++;
      if (head[i] === 0x7b) return 'safetensors'; // "{"
    }
  }
  return null;
}

/** A tab as the `.bin` offer sees it. */
export interface TabFact {
  /** The file's URI (string form). */
  uri: string;
  /** `weightscope`: one of our editors; `other`: a text or binary-file editor, a hex editor... */
  editor: 'weightscope' | 'other';
  /** The active tab of the active group. */
  active: boolean;
}

/**
 * Which `.bin` files to offer (the editor title's button for each) and which one the status bar
 * names (the active tab's): files sniffed as checkpoints, shown in another editor, that no
 * Weightscope editor has open and that the user did not wave off. The offer withdraws itself
 * the moment the file opens in Weightscope or its tab closes.
 */
export function binOffers(tabs: readonly TabFact[], checkpoints: ReadonlySet<string>, declined: ReadonlySet<string>): { all: string[]; active?: string } {
  const inWeightscope = new Set(tabs.filter((t) => t.editor === 'weightscope').map((t) => t.uri));
  const all = [...new Set(tabs.filter((t) => t.editor === 'other' && checkpoints.has(t.uri) && !inWeightscope.has(t.uri) && !declined.has(t.uri)).map((t) => t.uri))];
  const active = tabs.find((t) => t.active && t.editor === 'other' && all.includes(t.uri))?.uri;
  return active ? { all, active } : { all };
}
