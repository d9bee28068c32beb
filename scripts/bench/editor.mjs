// The editor in a real VS Code (issue 11): code-server driven by headless Chromium through the
// end-to-end harness (test/e2e/run.sh with WEIGHTSCOPE_E2E_ONLY=bench) on the DeepSeek-V3 layout
// (163 shards, 91,991 tensors), after a warm-up open: time to first paint (summary and first tree
// rows) from Enter in Quick Open, how much of it the worker spent opening, when the pane stopped
// being blank and how long of that its frame waited for VS Code's webview host, the same for a
// 46-tensor model opened the same way (the floor VS Code sets) and for the warm-up itself (a
// window's first webview: no frame wait, no spare worker), hover and expand times (timed
// inside the webview), and the extension host's longest event-loop stall while the model opened
// (with an idle baseline: this machine is shared). Skips with a line saying why when
// code-server is not installed (test/e2e/setup.sh).
import { existsSync, readFileSync } from 'fs';
import { spawnSync } from 'child_process';
import * as os from 'os';
import * as path from 'path';
import { benchDir, repo } from '../bench-lib.mjs';

const CODE_SERVER_VERSION = '4.100.3';

function median(xs) {
  const s = xs.filter((x) => x >= 0).sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)] : NaN;
}

export default async function (report) {
  const cache = process.env.WEIGHTSCOPE_E2E_CACHE || path.join(os.homedir(), '.cache', 'weightscope-e2e');
  const entry = path.join(cache, `code-server-${CODE_SERVER_VERSION}`, 'node_modules', 'code-server', 'out', 'node', 'entry.js');
  if (!existsSync(entry) || !existsSync('/usr/bin/chromium')) {
    report('editor (code-server)', `skipped: code-server ${CODE_SERVER_VERSION} or Chromium is not installed (run bash test/e2e/setup.sh once)`);
    return;
  }
  const out = path.join(benchDir, 'e2e');
  const cmd = 'WEIGHTSCOPE_E2E_ONLY=bench WEIGHTSCOPE_E2E_OUT=.bench/e2e bash test/e2e/run.sh';
  report('editor: command', cmd);
  const r = spawnSync('bash', [path.join(repo, 'test', 'e2e', 'run.sh')], {
    cwd: repo,
    env: { ...process.env, WEIGHTSCOPE_E2E_ONLY: 'bench', WEIGHTSCOPE_E2E_OUT: out },
    stdio: ['ignore', 'pipe', 'pipe'],
    encoding: 'utf8',
    timeout: 900_000,
  });
  const figures = path.join(out, 'editor-bench.json');
  if (r.status !== 0 || !existsSync(figures)) {
    report('editor (code-server)', `failed (exit ${r.status}); see ${path.relative(repo, out)}: ${(r.stdout + r.stderr).trim().split('\n').slice(-3).join(' | ')}`);
    return;
  }
  const f = JSON.parse(readFileSync(figures, 'utf8'));
  const ms = (x) => (Number.isFinite(x) ? `${Math.round(x)} ms` : 'n/a');
  report('editor: first paint (summary + first rows) after Enter', ms(f.firstPaintMs));
  report('editor:   of which the worker opening the checkpoint', ms(f.parseMs));
  report('editor:   head received -> rows painted (webview)', ms(f.headToPaintMs));
  report('editor: the pane stops being blank (spinner) after Enter', ms(f.pageShownMs));
  report("editor:   of which the page's frame waiting for VS Code", ms(f.frameWaitMs));
  report("editor: the window's first webview (the warm-up open): pane; first paint", `${ms(f.firstWebviewPageShownMs)}; ${ms(f.firstWebviewFirstPaintMs)} (its frame waiting ${ms(f.firstWebviewFrameWaitMs)}; the worker opening ${ms(f.firstWebviewParseMs)}, ${f.firstWebviewWorkerStart ?? 'worker start ?'})`);
  report('editor: a 46-tensor model opened the same way: pane; first paint', `${ms(f.smallPageShownMs)}; ${ms(f.smallFirstPaintMs)} (its frame waiting ${ms(f.smallFrameWaitMs)})`);
  report('editor: hover -> card with its tensors (median, n)', `${median(f.hoverMs ?? []).toFixed(1)} ms (${(f.hoverMs ?? []).length}; max ${Math.max(...(f.hoverMs ?? [NaN])).toFixed(1)})`);
  report('editor: expand a row or run that was on screen (median, n)', `${median(f.expandShownMs ?? []).toFixed(1)} ms (${(f.expandShownMs ?? []).length}; max ${Math.max(...(f.expandShownMs ?? [NaN])).toFixed(1)})`);
  report('editor: unfold a run the moment it shows (round trip; median, n)', `${median(f.expandColdMs ?? []).toFixed(1)} ms (${(f.expandColdMs ?? []).length}; max ${Math.max(...(f.expandColdMs ?? [NaN])).toFixed(1)})`);
  report('editor: expand after the pointer rested on it (median)', `${median(f.expandAfterHoverMs ?? []).toFixed(1)} ms`);
  report('editor: host event loop, longest stall while opening', `${ms(f.hostStallMs)} (loop busy ${f.hostBusyPercent ?? '?'}%; handing the head over ${ms(f.hostModelHandoverMs)}; idle baseline ${ms(f.hostIdleStallMs)})`);
  report('editor: machine load average (1 min) at the time', `${(f.loadAverage ?? NaN).toFixed(1)} on ${os.cpus().length} cores`);
}
