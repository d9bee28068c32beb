/**
 * Shard file names, whatever the format: `<stem>-0000k-of-0000n.<ext>`, and the index naming
 * them. (No imports: the CLI's launcher reads this too, before any reader is loaded.)
 */

/**
 * Whether a file name (or path) is a shard index: `<weights name>.index.json`, as
 * `model.safetensors.index.json` and `pytorch_model.bin.index.json` are, in any case.
 */
export function isShardIndexName(name: string): boolean {
  return name.toLowerCase().endsWith('.index.json');
}

/** The weights name an index is named after (`model.safetensors` for `model.safetensors.index.json`). */
export function indexedName(index: string): string {
  return index.slice(0, -'.index.json'.length);
}

/**
 * Files that form one complete shard set: `<stem>-0000k-of-0000n.<ext>` for every k of one n,
 * and nothing else. Anything else in the folder makes it not a shard set.
 */
export function shardSet(names: string[]): string[] | undefined {
  const re = /^(.*)-(\d+)-of-(\d+)(\.[a-z0-9]+)$/i;
  const parsed = names.map((n) => re.exec(n));
  if (parsed.some((m) => !m)) return undefined;
  const first = parsed[0]!;
  const count = Number(first[3]);
  if (!parsed.every((m) => m![1] === first[1] && m![3] === first[3] && m![4] === first[4])) return undefined;
  const seen = new Set(parsed.map((m) => Number(m![2])));
  if (seen.size !== count || names.length !== count) return undefined;
  for (let k = 1; k <= count; k++) if (!seen.has(k)) return undefined;
  return [...names].sort();
}
