/**
 * Which `.bin` tabs get the offer to open them with Weightscope (binOffer.ts): pure, no vscode
 * import, so the rule is tested on its own.
 */
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
