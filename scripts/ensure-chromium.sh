#!/usr/bin/env bash
# Debian's Chromium and a CJK font for the browser tests (tests/app/web). Playwright drives this
# Chromium through its bundled driver: never `playwright install`, no browser download.
set -euo pipefail
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
if ! command -v fc-list >/dev/null 2>&1 || [ -z "$(fc-list :lang=zh family 2>/dev/null)" ]; then
  missing+=(fonts-noto-cjk)  # without it Chinese renders as boxes
fi
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing ${missing[*]} from Debian" >&2
  export DEBIAN_FRONTEND=noninteractive
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
/usr/bin/chromium --version >/dev/null 2>&1 || { echo "/usr/bin/chromium does not run" >&2; exit 1; }
