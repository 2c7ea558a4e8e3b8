#!/usr/bin/env bash
# Install headless Chromium (Debian package) if it is missing: the feedback-report tests render the HTML
# report in it and take a screenshot. Idempotent; needs root (or sudo) only when it has to install.
set -euo pipefail
CHROMIUM="${PSIRF_CHROMIUM:-/usr/bin/chromium}"
if [ -x "$CHROMIUM" ] || command -v chromium >/dev/null 2>&1; then exit 0; fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo -n"; else
    echo "error: chromium is missing and this user cannot install it (run: apt-get install -y chromium)" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
command -v chromium >/dev/null 2>&1 || { echo "error: chromium did not install" >&2; exit 1; }
echo "chromium installed: $(chromium --version 2>/dev/null || echo unknown version)"
