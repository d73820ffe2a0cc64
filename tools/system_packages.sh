#!/usr/bin/env bash
# The Debian packages margindesk needs beside its Python environment, installed only when
# missing (so a second run, or a machine that has them, does nothing):
#   tools/system_packages.sh          what the demo needs: gettext (the Chinese catalogue),
#                                     Pango/HarfBuzz (WeasyPrint's PDFs), CJK fonts
#   tools/system_packages.sh --test   and what the tests need too: poppler (pdftotext) and
#                                     Debian's Chromium with its driver (browser tests)
set -euo pipefail
need=()
command -v msgfmt >/dev/null || need+=(gettext)
dpkg -s libpango-1.0-0 >/dev/null 2>&1 || need+=(libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0)
dpkg -s fonts-noto-cjk >/dev/null 2>&1 || need+=(fonts-noto-cjk)
if [[ "${1:-}" == "--test" ]]; then
  command -v pdftotext >/dev/null || need+=(poppler-utils)
  command -v chromium >/dev/null || need+=(chromium chromium-driver)
fi
((${#need[@]})) || exit 0
if [[ $(id -u) -ne 0 ]]; then
  echo "system packages missing: ${need[*]}; install them (as root: apt-get install ${need[*]})" >&2
  exit 1
fi
echo "installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
