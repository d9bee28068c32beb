/**
 * What the editor says about a pickle's safety: the banner's decoded calls and the Safety tab's
 * entries, from the core's report (src/core/formats/pytorch/safety.ts). Every call is shown as the
 * pickle holds it — the core decoded, escaped and cut it; nothing was executed. DOM-free.
 */
import type { SafetyReport, WireSummary } from '../../../src/shared/protocol';

type SafetyGlobal = SafetyReport['globals'][number];

/** A flagged global as the banner and the Safety tab show it. */
export interface FlaggedCall {
  name: string;
  verdict: SafetyGlobal['verdict'];
  /** The decoded calls (`posix.system('touch /tmp/x')`), or what it does when it calls nothing. */
  calls: string[];
  /** Calls beyond `calls` (the core keeps the first few). */
  more: number;
  /** `call`, `instantiate`, `rewrite`, `import`: what torch.load would do with it. */
  verb: string;
  reason?: string;
  /** Reached through another callable (`builtins.getattr`) rather than a GLOBAL. */
  via?: string;
  /** Only in a pickle after the first STOP, which torch.load does not read. */
  trailing: boolean;
}

const VERDICT_ORDER = { dangerous: 0, unknown: 1, allowed: 2 } as const;

/** The verb for what the pickle does with a global, as the CLI's verdict words it. */
export function actionVerb(g: Pick<SafetyGlobal, 'action'>): string {
  return g.action === 'call' ? 'call' : g.action === 'modify' ? 'rewrite' : g.action === 'class' ? 'instantiate' : 'import';
}

/** What a global amounts to when the pickle makes no call with it: `posix.system (named, not called)`. */
function withoutCall(g: SafetyGlobal): string {
  return `${g.name} (${g.action === 'class' ? 'instantiated' : g.action === 'modify' ? 'rewritten' : g.action === 'call' ? 'called' : 'named, not called'})`;
}

/**
 * The globals torch.load without weights_only would run, dangerous first (then in the pickle's
 * order): each with its decoded calls. Only flagged globals (`unsafe`, or `dangerous`).
 */
export function flaggedCalls(report: SafetyReport | undefined): FlaggedCall[] {
  if (!report) return [];
  const flagged = report.globals
    .map((g, i) => ({ g, i }))
    .filter(({ g }) => g.unsafe || g.verdict === 'dangerous')
    .sort((a, b) => VERDICT_ORDER[a.g.verdict] - VERDICT_ORDER[b.g.verdict] || a.i - b.i);
  return flagged.map(({ g }) => {
    const calls = g.calls?.length ? g.calls.slice() : [withoutCall(g)];
    const shown = g.calls?.length ?? 0;
    return {
      name: g.name,
      verdict: g.verdict,
      calls,
      more: g.callCount && g.callCount > shown && shown > 0 ? g.callCount - shown : 0,
      verb: actionVerb(g),
      reason: g.reason,
      via: g.via,
      trailing: !!g.trailing,
    };
  });
}

/** The banner's head: what loading the file would do, in one sentence. */
export function bannerHead(report: SafetyReport, plainPickle: boolean): string {
  const loader = plainPickle ? 'pickle.load or torch.load' : 'torch.load';
  if (report.verdict === 'dangerous') return `Loading this file with ${loader} would run code:`;
  return `Loading this file with ${loader} would call code Weightscope does not know:`;
}

/** The Safety tab's line for one global: its verdict, what the pickle does with it, how often. */
export function globalSummary(g: SafetyGlobal): string {
  const parts: string[] = [g.verdict];
  if (g.action === 'call') parts.push(g.callCount && g.callCount > 1 ? `called ${g.callCount} times` : 'called');
  else if (g.action === 'class') parts.push('instantiated');
  else if (g.action === 'modify') parts.push('rewritten');
  if (g.count > 1) parts.push(`${g.count} references`);
  if (g.via) parts.push(`reached through ${g.via}`);
  if (g.trailing) parts.push('in a pickle torch.load ignores');
  return parts.join(' · ');
}

/** The globals in the Safety tab's order: dangerous, unknown, allowed; by name within each. */
export function sortedGlobals(report: SafetyReport): SafetyGlobal[] {
  return report.globals.slice().sort((a, b) => VERDICT_ORDER[a.verdict] - VERDICT_ORDER[b.verdict] || a.name.localeCompare(b.name));
}

/**
 * A pickle that holds no tensors (a plain `.pkl`, format `pickle`): the editor shows its safety
 * report instead of an empty model.
 */
export function isPlainPickle(s: Pick<WireSummary, 'format' | 'tensorCount' | 'safety'>): boolean {
  return !!s.safety && (s.format === 'pickle' || s.tensorCount === 0);
}

/** Warnings whose message says what a pickle without tensors is and would do. */
const PICKLE_LEADS = ['not-a-checkpoint', 'magic-bypass', 'broken-pickle'];

/**
 * A plain pickle's lead line, as the reader words it: "a pickle, not a checkpoint: it would call
 * posix.system('touch /tmp/x')" (or what pickle.load would return when it calls nothing).
 */
export function pickleLead(s: Pick<WireSummary, 'warnings'>): string {
  for (const code of PICKLE_LEADS) {
    const w = s.warnings.find((x) => x.code === code);
    if (w) return w.message;
  }
  return 'a pickle, not a checkpoint: it holds no tensors';
}
