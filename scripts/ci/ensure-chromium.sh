#!/usr/bin/env bash
# The browser tests (test/browser) drive Debian's headless Chromium through playwright-core at /usr/bin/chromium.
# Install Debian's chromium if it is missing (as root, or through sudo); never download a browser from elsewhere.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  echo "ensure-chromium: /usr/bin/chromium present"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  SUDO=sudo
else
  SUDO=
fi
echo "ensure-chromium: installing Debian's chromium"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
[ -x /usr/bin/chromium ] || { echo "ensure-chromium: chromium installed but /usr/bin/chromium is missing" >&2; exit 1; }
echo "ensure-chromium: installed"
