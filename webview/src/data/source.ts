/**
 * A remote checkpoint in the editor, the words (pure; the DOM is ui/source.ts): where it came
 * from, for the summary's source line, and what the network carried, for the loading line.
 */
import { bytes, exact } from '../../../src/shared/format';
import type { Progress, WireSource } from '../../../src/shared/protocol';

/** `3 requests, 66.0 KiB transferred` (and what is under way) while a remote checkpoint opens. */
export function transferText(p: Pick<Progress, 'requests' | 'bytesTransferred' | 'inFlight'>): string | undefined {
  if (p.requests === undefined) return undefined;
  const n = p.requests;
  return `${exact(n)} request${n === 1 ? '' : 's'}, ${bytes(p.bytesTransferred ?? 0)} transferred${p.inFlight ? ` (${exact(p.inFlight)} under way)` : ''}`;
}

export interface SourceLine {
  /** `Hugging Face Hub`, `local Hugging Face cache (offline)`, `URL`. */
  where: string;
  /** `openai-community/gpt2` or the URL (without its query). */
  what: string;
  /** `main · 607a30d` (the ref asked for and the commit read). */
  revision?: string;
  /** The file opened inside the repository. */
  file?: string;
  /** `66.0 KiB in 4 requests`; for the cache, that nothing travelled. */
  transfer?: string;
  /** The whole line for a tooltip: the full commit, the note. */
  title: string;
  /** The summary offers the repository's page on the Hub. */
  hasPage: boolean;
}

export function sourceLine(s: WireSource): SourceLine {
  const hub = s.kind !== 'url' && !!s.repo;
  const where = s.kind === 'hf' ? 'Hugging Face Hub' : s.kind === 'hf-cache' ? 'local Hugging Face cache (offline)' : 'URL';
  const what = hub ? `${s.repoType && s.repoType !== 'model' ? `${s.repoType}s/` : ''}${s.repo}` : (s.url ?? s.address);
  const commit = s.revision ? s.revision.slice(0, 7) : undefined;
  const revision = hub ? [s.ref && s.ref !== s.revision ? s.ref : undefined, commit].filter(Boolean).join(' · ') || undefined : undefined;
  const n = s.requests ?? 0;
  const transfer = s.kind === 'hf-cache' ? 'nothing transferred' : s.bytesTransferred !== undefined ? `${bytes(s.bytesTransferred)} in ${exact(n)} request${n === 1 ? '' : 's'}` : undefined;
  const title = [
    `${s.address}`,
    hub && s.revision ? `commit ${s.revision}${s.ref ? ` (${s.ref})` : ''}` : undefined,
    s.url && hub ? s.url : undefined,
    s.bytesTransferred !== undefined ? `${exact(s.bytesTransferred)} bytes transferred in ${exact(n)} HTTP request${n === 1 ? '' : 's'}; the tensor data was not read` : undefined,
    s.note,
  ]
    .filter(Boolean)
    .join('\n');
  return { where, what, revision, file: hub && s.file ? s.file : undefined, transfer, title, hasPage: hub };
}
