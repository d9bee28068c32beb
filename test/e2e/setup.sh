#!/usr/bin/env bash
# Installs what the end-to-end test needs, with apt and npm only, and caches code-server
# OUTSIDE the repository. Idempotent: a complete cache (marker file with the version) is
# reused, and apt is asked only for packages that are missing.
#
#   WEIGHTSCOPE_E2E_CACHE   cache folder (default: $HOME/.cache/weightscope-e2e)
#
# The server ends up in "$WEIGHTSCOPE_E2E_CACHE/code-server-<version>/node_modules/code-server".
# Recipe: shared/docs/real-vscode-testing.md (code-server 4.100.x is the newest on Node 20).
set -euo pipefail

CODE_SERVER_VERSION="4.100.3"
HOME="${HOME:-$(getent passwd "$(id -u)" | cut -d: -f6)}"
CACHE="${WEIGHTSCOPE_E2E_CACHE:-$HOME/.cache/weightscope-e2e}"
DEST="$CACHE/code-server-$CODE_SERVER_VERSION"
MARKER="$DEST/.complete"

log() { printf '[e2e-setup] %s\n' "$*" >&2; }
t0=$(date +%s)

# ---------------------------------------------------------------- Debian packages
# libkrb5-dev: headers for code-server's native "kerberos" module; ripgrep: replaces the
# binary @vscode/ripgrep would download; chromium: the browser playwright-core drives.
# python3, make, g++: node-gyp (present on this kind of machine; installed if not).
need_apt=()
dpkg-query -W -f='${Status}' libkrb5-dev 2>/dev/null | grep -q 'install ok installed' || need_apt+=(libkrb5-dev)
command -v rg >/dev/null 2>&1 || need_apt+=(ripgrep)
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
# Installed without recommends, chromium would have no fonts for the screenshots' text.
dpkg-query -W -f='${Status}' fonts-liberation 2>/dev/null | grep -q 'install ok installed' || need_apt+=(fonts-liberation)
command -v make >/dev/null 2>&1 || need_apt+=(make)
command -v g++ >/dev/null 2>&1 || need_apt+=(g++)
command -v python3 >/dev/null 2>&1 || need_apt+=(python3)
if [ "${#need_apt[@]}" -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  log "apt: installing ${need_apt[*]}"
  # Update the package lists only when the install cannot find something.
  if ! $SUDO apt-get install -y --no-install-recommends "${need_apt[@]}" </dev/null >&2; then
    log "apt: install failed; running apt-get update and retrying"
    $SUDO apt-get update </dev/null >&2
    $SUDO apt-get install -y --no-install-recommends "${need_apt[@]}" </dev/null >&2
  fi
else
  log "apt: libkrb5-dev, ripgrep, chromium, fonts-liberation already installed"
fi
RG="$(command -v rg)"

# ---------------------------------------------------------------- code-server
mkdir -p "$CACHE"
# One setup at a time (two runs sharing a cache would otherwise race).
exec 9>"$CACHE/.lock"
flock 9

if [ -f "$MARKER" ] && [ "$(cat "$MARKER")" = "$CODE_SERVER_VERSION" ] \
   && [ -f "$DEST/node_modules/code-server/out/node/entry.js" ] \
   && [ -x "$DEST/node_modules/code-server/lib/vscode/node_modules/@vscode/ripgrep/bin/rg" ]; then
  log "code-server $CODE_SERVER_VERSION cached in $DEST ($(( $(date +%s) - t0 ))s)"
  exit 0
fi

log "installing code-server $CODE_SERVER_VERSION into $DEST (takes a few minutes)"
# Build in a temporary folder and move it in place only when complete, so an interrupted
# install never looks like a cache hit.
TMP="$CACHE/.tmp-code-server-$CODE_SERVER_VERSION.$$"
rm -rf "$TMP" "$CACHE"/.tmp-code-server-* 2>/dev/null || true
mkdir -p "$TMP"
trap 'rm -rf "$TMP"' EXIT

# npm settings inherited from an outer "npm run" must not leak into these installs.
unset npm_config_prefix npm_config_global npm_config_ignore_scripts npm_config_omit \
      npm_config_production npm_config_only 2>/dev/null || true
NPM=(npm --no-audit --no-fund --loglevel=error)

cd "$TMP"
printf '{"name":"weightscope-e2e-code-server","private":true}\n' > package.json
log "npm install code-server@$CODE_SERVER_VERSION --ignore-scripts"
"${NPM[@]}" install "code-server@$CODE_SERVER_VERSION" --ignore-scripts >&2

VSC="$TMP/node_modules/code-server/lib/vscode"
cd "$VSC"
log "lib/vscode: npm install --omit=dev --ignore-scripts"
"${NPM[@]}" install --omit=dev --ignore-scripts >&2
mkdir -p node_modules/@vscode/ripgrep/bin
ln -sf "$RG" node_modules/@vscode/ripgrep/bin/rg
log "lib/vscode: npm rebuild native modules"
# One at a time, so that one failing does not stop the others. node-pty's post-install step
# fails on a missing npx package (node-gyp, for compile_commands.json); pty.node is built
# anyway. @vscode/sqlite3 is not a dependency of this version (rebuilding it is a no-op).
for m in kerberos @vscode/spdlog native-watchdog @parcel/watcher @vscode/sqlite3 node-pty; do
  if ! "${NPM[@]}" rebuild "$m" >"$TMP/rebuild-${m//\//_}.log" 2>&1; then
    if [ "$m" = node-pty ]; then
      log "npm rebuild node-pty: post-install step failed as expected (pty.node checked below)"
    else
      log "npm rebuild $m reported an error (outputs checked below):"
      tail -n 20 "$TMP/rebuild-${m//\//_}.log" >&2
    fi
  fi
done
ln -sfn node_modules node_modules.asar

cd "$VSC/extensions"
log "lib/vscode/extensions: npm install --omit=dev --ignore-scripts"
"${NPM[@]}" install --omit=dev --ignore-scripts >&2

cd "$TMP"
log "npm rebuild argon2"
"${NPM[@]}" rebuild argon2 >&2

# Check the native modules the server loads at start exist.
missing=0
for f in \
  "$VSC/node_modules/node-pty/build/Release/pty.node" \
  "$VSC/node_modules/@vscode/spdlog/build/Release/spdlog.node" \
  "$VSC/node_modules/kerberos/build/Release/kerberos.node" \
  "$VSC/node_modules/native-watchdog/build/Release/watchdog.node"; do
  [ -f "$f" ] || { log "missing after build: $f"; missing=1; }
done
[ "$missing" -eq 0 ] || { log "code-server build incomplete"; exit 1; }

printf '%s' "$CODE_SERVER_VERSION" > "$TMP/.complete"
rm -rf "$DEST"
mv "$TMP" "$DEST"
trap - EXIT
log "code-server $CODE_SERVER_VERSION installed in $DEST ($(( $(date +%s) - t0 ))s)"
