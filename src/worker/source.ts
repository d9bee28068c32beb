/**
 * A remote checkpoint's source as the summary shows it: repository, revision, the file opened
 * inside it, the transfer; URLs without their query (it may hold a signature). Pure.
 */
import type { Checkpoint } from '../core/model';
import { formatHubAddress, redactUrl } from '../core/remote/address';
import type { WireSource } from '../shared/protocol';

export function wireSource(cp: Pick<Checkpoint, 'source' | 'path' | 'bytesTransferred' | 'requests'>): WireSource | undefined {
  const s = cp.source;
  if (!s) return undefined;
  const w: WireSource = { kind: s.kind, address: s.kind === 'url' ? redact(s.address) : s.address };
  if (s.repo) w.repo = s.repo;
  if (s.repoType) w.repoType = s.repoType;
  if (s.revision) w.revision = s.revision;
  if (s.ref) w.ref = s.ref;
  if (s.url) w.url = redact(s.url);
  if (s.note) w.note = s.note;
  if (s.repo && s.repoType) {
    // cp.path is the address of what was opened: hf://owner/name[@rev][/file].
    const base = formatHubAddress({ repoType: s.repoType, repo: s.repo, revision: s.ref });
    w.file = cp.path === base ? '' : cp.path.startsWith(`${base}/`) ? cp.path.slice(base.length + 1) : undefined;
    if (w.file === undefined) delete w.file;
  }
  if (cp.bytesTransferred !== undefined) w.bytesTransferred = cp.bytesTransferred;
  if (cp.requests !== undefined) w.requests = cp.requests;
  return w;
}

function redact(u: string): string {
  try {
    return redactUrl(u);
  } catch {
    return u.split(/[?#]/)[0];
  }
}
