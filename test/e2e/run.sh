#!/usr/bin/env bash
# End-to-end test of Weightscope in a real VS Code: code-server (cached by setup.sh outside
# the repository) on a free loopback port, driven by Debian's headless Chromium through
# playwright-core (test/e2e/e2e.mjs). Everything it writes goes under test-output/e2e/.
#
#   WEIGHTSCOPE_E2E_CACHE   code-server cache (default: $HOME/.cache/weightscope-e2e)
#   WEIGHTSCOPE_E2E_VSIX    use this .vsix instead of running `npm run package`
#   WEIGHTSCOPE_E2E_FIXTURES fixture folder (default: test/fixtures/safetensors; for debugging)
#   WEIGHTSCOPE_E2E_OUT     output folder, wiped at start (default: test-output/e2e)
#   WEIGHTSCOPE_E2E_TIMEOUT seconds the browser test may take in all (default 900)
#   WEIGHTSCOPE_E2E_ONLY    "bench": only the editor figures on the large model (npm run bench);
#                           "display": only the quantized, pickle and ONNX cases;
#                           "compare": only the comparison view (issue 14);
#                           "remote": only the remote models (hf:// from the loopback Hub, the cache)
#
# Exits non-zero on any failure; the last line is "N passed, N failed".
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
CODE_SERVER_VERSION="4.100.3"
HOME="${HOME:-$(getent passwd "$(id -u)" | cut -d: -f6)}"
CACHE="${WEIGHTSCOPE_E2E_CACHE:-$HOME/.cache/weightscope-e2e}"
export WEIGHTSCOPE_E2E_CACHE="$CACHE"
CS_DIR="$CACHE/code-server-$CODE_SERVER_VERSION"
ENTRY="$CS_DIR/node_modules/code-server/out/node/entry.js"
OUT="${WEIGHTSCOPE_E2E_OUT:-$ROOT/test-output/e2e}"
STATE="$OUT/state"
WORKSPACE="$OUT/workspace"
RESULTS="$OUT/results.json"
FIXTURES="${WEIGHTSCOPE_E2E_FIXTURES:-$ROOT/test/fixtures/safetensors}"

log() { printf '[e2e] %s\n' "$*" >&2; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

SERVER_PID=""
TEST_PID=""
HUB_PID=""
SUMMARY_PRINTED=0
stop_server() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    log "stopping code-server (pid $SERVER_PID)"
    # The server was started with setsid: its process group holds it and its children.
    kill -TERM -- "-$SERVER_PID" 2>/dev/null || kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 50); do
      kill -0 "$SERVER_PID" 2>/dev/null || break
      sleep 0.2
    done
    if kill -0 "$SERVER_PID" 2>/dev/null; then
      log "code-server did not stop on SIGTERM; sending SIGKILL"
      kill -KILL -- "-$SERVER_PID" 2>/dev/null || kill -KILL "$SERVER_PID" 2>/dev/null || true
    fi
  fi
  SERVER_PID=""
}
stop_hub() {
  if [ -n "$HUB_PID" ] && kill -0 "$HUB_PID" 2>/dev/null; then
    kill -TERM "$HUB_PID" 2>/dev/null || true
    wait "$HUB_PID" 2>/dev/null || true
  fi
  HUB_PID=""
}
on_exit() {
  local rc=$?
  if [ -n "$TEST_PID" ] && kill -0 "$TEST_PID" 2>/dev/null; then
    kill -TERM "$TEST_PID" 2>/dev/null || true   # timeout passes it on to node (and Chromium)
    wait "$TEST_PID" 2>/dev/null || true
  fi
  stop_server
  stop_hub
  if [ "$SUMMARY_PRINTED" -eq 0 ]; then
    # Failed before the browser test reported: count the harness itself as one failure.
    log "harness failed before the test finished (exit $rc); see $OUT"
    echo "0 passed, 1 failed"
    [ "$rc" -ne 0 ] || rc=1
  fi
  exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

T_START=$(now)
case "$OUT" in /|"$HOME"|"$ROOT") log "refusing to wipe $OUT"; exit 1;; esac
rm -rf "$OUT"
mkdir -p "$OUT"

# ------------------------------------------------------------------ 1. setup (cached)
T=$(now)
bash "$ROOT/test/e2e/setup.sh"
log "setup: $(since "$T") s"
[ -f "$ENTRY" ] || { log "code-server missing at $ENTRY"; exit 1; }

# ------------------------------------------------------------------ 2. package the .vsix
if [ -n "${WEIGHTSCOPE_E2E_VSIX:-}" ]; then
  VSIX="$(cd "$(dirname "$WEIGHTSCOPE_E2E_VSIX")" && pwd)/$(basename "$WEIGHTSCOPE_E2E_VSIX")"
  log "using $VSIX (WEIGHTSCOPE_E2E_VSIX)"
else
  T=$(now)
  VSIX="$ROOT/weightscope.vsix"
  rm -f "$VSIX"
  npm run package </dev/null >&2
  log "npm run package: $(since "$T") s"
  # Packaging rebuilt dist/ for production. The CLI users run is the development build `npm
  # install` makes, and the steps below and `npm run bench`'s sections after this one run the CLI
  # from dist/: build it again.
  T=$(now)
  npm run build </dev/null >&2
  log "npm run build (dist/ as npm install makes it): $(since "$T") s"
fi
[ -f "$VSIX" ] || { log "no .vsix at $VSIX"; exit 1; }
log "vsix: $VSIX ($(du -k "$VSIX" | cut -f1) KiB)"

# ------------------------------------------------------------------ 3. scratch state
mkdir -p "$STATE"/{user-data/User,extensions,xdg-config,xdg-data} "$WORKSPACE"
export XDG_CONFIG_HOME="$STATE/xdg-config" XDG_DATA_HOME="$STATE/xdg-data"
CONFIG="$STATE/config.yaml"
printf 'auth: none\ncert: false\n' > "$CONFIG"
CS=(node "$ENTRY" --config "$CONFIG" --user-data-dir "$STATE/user-data" --extensions-dir "$STATE/extensions")

T=$(now)
"${CS[@]}" --install-extension "$VSIX" --force </dev/null > "$OUT/install-extension.log" 2>&1 \
  || { cat "$OUT/install-extension.log" >&2; log "--install-extension failed"; exit 1; }
cat "$OUT/install-extension.log" >&2
compgen -G "$STATE/extensions/weightscope.weightscope-*" >/dev/null \
  || { log "extension not found in $STATE/extensions after install"; exit 1; }
log "install-extension: $(since "$T") s"

# remote.autoForwardPorts off: code-server's extension host otherwise scans for ports every few
# seconds (child_process.exec, /proc reads: a CPU profile of the host while the 163-shard model
# opens shows those, not Weightscope), which would blur the host's event-loop figures.
cat > "$STATE/user-data/User/settings.json" <<'JSON'
{
  "workbench.startupEditor": "none",
  "workbench.tips.enabled": false,
  "workbench.welcomePage.walkthroughs.openOnInstall": false,
  "workbench.enableExperiments": false,
  "security.workspace.trust.enabled": false,
  "telemetry.telemetryLevel": "off",
  "update.mode": "none",
  "update.showReleaseNotes": false,
  "extensions.autoCheckUpdates": false,
  "extensions.autoUpdate": false,
  "extensions.ignoreRecommendations": true,
  "git.enabled": false,
  "chat.commandCenter.enabled": false,
  "workbench.editor.enablePreview": false,
  "window.restoreWindows": "none",
  "files.hotExit": "off",
  "remote.autoForwardPorts": false,
  "workbench.editorAssociations": { "*.pkl": "weightscope.checkpointOption" }
}
JSON

# Workspace: the fixtures as a user would have them, plus a broken checkpoint.
for f in gpt2-tied gpt2-untied; do
  if [ -d "$FIXTURES/$f" ]; then
    cp -r "$FIXTURES/$f" "$WORKSPACE/$f"
  else
    log "WARNING: fixture $FIXTURES/$f is missing (the test for it will fail)"
  fi
done
[ -f "$FIXTURES/ground-truth.json" ] && cp "$FIXTURES/ground-truth.json" "$WORKSPACE/ground-truth.json"
mkdir -p "$WORKSPACE/broken"
# A safetensors header length (8 bytes, little-endian) far larger than the file, then junk.
printf '\xff\xff\xff\xff\x00\x00\x00\x00{"not": "a safetensors header' > "$WORKSPACE/broken/broken.safetensors"
# A PyTorch checkpoint under the name transformers gives it (the .bin offer; its presence also
# activates the extension at start-up through workspaceContains:**/*.bin).
# Three of them: VS Code reopens a file with the editor last chosen for it, so the offer is timed
# on files never opened in Weightscope (at start-up, after a reload, later in the session).
# Quantized, pickle and ONNX fixtures (committed): the editor's scheme line, decoded calls, wording.
mkdir -p "$WORKSPACE/quant" "$WORKSPACE/pickles" "$WORKSPACE/onnx"
cp -r "$ROOT/test/fixtures/quant/gptq-4bit-g32" "$WORKSPACE/quant/gptq-4bit-g32"
cp -r "$ROOT/test/fixtures/quant/peft-lora" "$WORKSPACE/quant/peft-lora"
cp "$ROOT/test/fixtures/quant/ground-truth.json" "$WORKSPACE/quant/ground-truth.json"
cp "$ROOT/test/fixtures/layouts/plain-evil.pkl" "$WORKSPACE/pickles/plain-evil.pkl"
cp "$ROOT/test/fixtures/pytorch/malicious.pt" "$WORKSPACE/pickles/malicious.pt"
cp "$ROOT/test/fixtures/onnx/extra/encoder-dedup.onnx" "$WORKSPACE/onnx/encoder-dedup.onnx"
for d in bin bin-reload bin-later; do
  mkdir -p "$WORKSPACE/$d"
  cp "$ROOT/test/fixtures/pytorch/gpt2-tied.pt" "$WORKSPACE/$d/pytorch_model.bin"
done
# The full-size GPT-2 headers, tied and with its own lm_head (the comparison view, issue 14): the
# real 124M headers followed by a sparse, never-read data region of the real size.
for f in gpt2-124m gpt2-124m-untied; do
  mkdir -p "$WORKSPACE/$f"
  cp "$ROOT/test/fixtures/safetensors/$f/config.json" "$WORKSPACE/$f/config.json"
  node -e '
    const fs = require("fs");
    const [src, out] = process.argv.slice(1);
    const h = fs.readFileSync(src);
    const n = Number(h.readBigUInt64LE(0));
    const meta = JSON.parse(h.subarray(8, 8 + n).toString("utf8"));
    let end = 0;
    for (const [k, v] of Object.entries(meta)) if (k !== "__metadata__") end = Math.max(end, v.data_offsets[1]);
    const fd = fs.openSync(out, "w");
    fs.writeSync(fd, h, 0, h.length, 0);
    fs.ftruncateSync(fd, 8 + n + end);
    fs.closeSync(fd);' "$ROOT/test/fixtures/safetensors/$f/model.safetensors.header" "$WORKSPACE/$f/model.safetensors"
done
# The large model: the DeepSeek-V3 layout, 163 sparse shards (~20 MB on disk, 684 GB apparent).
T=$(now)
node "$ROOT/scripts/deepseek-v3.cjs" "$WORKSPACE/deepseek-v3" >/dev/null
log "DeepSeek-V3 layout written: $(since "$T") s"

# The loopback Hugging Face Hub (test/helpers/http-server.ts, bundled here) and a local Hugging
# Face cache: code-server's HF_ENDPOINT and HF_HUB_CACHE point at them, HF_HOME at an empty folder
# (no token file) and no HF_TOKEN is passed on, so no request leaves 127.0.0.1.
T=$(now)
"$ROOT/node_modules/.bin/esbuild" "$ROOT/test/helpers/http-server.ts" --bundle --platform=node --format=cjs \
  --log-level=warning --outfile="$STATE/http-server.cjs"
node "$ROOT/test/e2e/hub.cjs" "$STATE/http-server.cjs" "$ROOT" "$STATE" </dev/null > "$OUT/hub.log" 2>&1 &
HUB_PID=$!
for _ in $(seq 1 100); do
  [ -s "$STATE/hub-url" ] && break
  kill -0 "$HUB_PID" 2>/dev/null || { cat "$OUT/hub.log" >&2; log "the loopback Hub exited"; exit 1; }
  sleep 0.1
done
[ -s "$STATE/hub-url" ] || { cat "$OUT/hub.log" >&2; log "the loopback Hub did not start"; exit 1; }
HUB_URL="$(cat "$STATE/hub-url")"
mkdir -p "$STATE/hf-home"
log "loopback Hub on $HUB_URL (pid $HUB_PID): $(since "$T") s"

# ------------------------------------------------------------------ 4. start code-server
PORT="$(node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"
T=$(now)
setsid env -u HF_TOKEN -u HUGGING_FACE_HUB_TOKEN -u HF_TOKEN_PATH -u HF_HUB_OFFLINE -u HF_HUB_DISABLE_IMPLICIT_TOKEN \
  HF_ENDPOINT="$HUB_URL" HF_HUB_CACHE="$STATE/hf-cache" HF_HOME="$STATE/hf-home" \
  "${CS[@]}" --bind-addr "127.0.0.1:$PORT" --auth none --disable-telemetry \
  --disable-update-check --disable-workspace-trust --disable-getting-started-override \
  "$WORKSPACE" </dev/null > "$OUT/code-server.log" 2>&1 &
SERVER_PID=$!
log "code-server pid $SERVER_PID on 127.0.0.1:$PORT"
node -e '
  const url = process.argv[1], pid = +process.argv[2], deadline = Date.now() + 60000;
  (async function poll() {
    try { process.kill(pid, 0); } catch { console.error("code-server exited"); process.exit(1); }
    try { const r = await fetch(url); if (r.ok) { console.error(await r.text()); process.exit(0); } } catch {}
    if (Date.now() > deadline) { console.error("no /healthz answer in 60 s"); process.exit(1); }
    setTimeout(poll, 250);
  })();' "http://127.0.0.1:$PORT/healthz" "$SERVER_PID" \
  || { tail -n 40 "$OUT/code-server.log" >&2; log "code-server did not become healthy"; exit 1; }
log "code-server healthy: $(since "$T") s"

# ------------------------------------------------------------------ 5. the browser test
T=$(now)
set +e
E2E_URL="http://127.0.0.1:$PORT/" E2E_WORKSPACE="$WORKSPACE" E2E_OUT="$OUT" E2E_RESULTS="$RESULTS" \
E2E_FIXTURES="$FIXTURES" E2E_STATE="$STATE" E2E_SETTINGS="$STATE/user-data/User/settings.json" \
E2E_ONLY="${WEIGHTSCOPE_E2E_ONLY:-}" E2E_HUB_URL="$HUB_URL" E2E_HUB_LOG="$STATE/hub-log.json" \
  timeout --kill-after=10 "${WEIGHTSCOPE_E2E_TIMEOUT:-900}" node "$ROOT/test/e2e/e2e.mjs" </dev/null &
TEST_PID=$!
# "wait" (unlike a foreground command) lets the INT/TERM traps run at once.
wait "$TEST_PID"
TEST_RC=$?
TEST_PID=""
set -e
log "browser test: $(since "$T") s (exit $TEST_RC)"

stop_server
stop_hub
log "total: $(since "$T_START") s; screenshots and logs in ${OUT#"$ROOT"/}"

read -r PASSED FAILED < <(node -e '
  try { const r = require(process.argv[1]); console.log(r.passed, r.failed); }
  catch { console.log(0, 1); }' "$RESULTS")
if [ "$TEST_RC" -ne 0 ] && [ "$FAILED" -eq 0 ]; then FAILED=1; fi
SUMMARY_PRINTED=1
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ] && [ "$TEST_RC" -eq 0 ]
