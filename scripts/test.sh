#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs what the tests need, then lints, type-checks and tests.
#   bash scripts/test.sh [pytest arguments]
# Python packages go into .venv (unless a virtual environment is already active); the pinned npm packages
# (solc, OpenZeppelin, Solady, anvil) into contracts/node_modules, and the icon set the badges' icons are copied
# from (lucide-static) into scripts/icons/node_modules, axe-core into tests/browser/node_modules; Debian's Chromium
# and fonts (for the browser tests of the pages and badges) through apt-get, as root or with sudo.
set -euo pipefail
cd "$(dirname "$0")/.."
# Everything below installs the tools the tests need, so none may be skipped for a missing one (tests/utils/ci.py).
export CI=true

# Chromium, and fonts for every script the badge and page tests draw: DejaVu (Latin, Greek, Cyrillic, Hebrew,
# Arabic), WenQuanYi Micro Hei (Chinese, Japanese: 1.6 MB, where Noto CJK is 57 MB) and Noto Color Emoji.
browser_packages=(chromium fonts-dejavu-core fonts-noto-color-emoji fonts-wqy-microhei)
if [[ ! -x /usr/bin/chromium ]] || { command -v dpkg-query >/dev/null &&
    { dpkg-query -W -f='${db:Status-Abbrev}\n' "${browser_packages[@]}" 2>&1 || true; } | grep -qv '^ii'; }; then
    if [[ $(id -u) -eq 0 ]]; then
        as_root=()
    elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
        as_root=(sudo -n)
    else
        echo "scripts/test.sh: the browser tests need Debian's Chromium and fonts; install them as root:" >&2
        echo "  apt-get update && apt-get install -y --no-install-recommends ${browser_packages[*]}" >&2
        exit 1
    fi
    "${as_root[@]}" apt-get update -qq
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${browser_packages[@]}" >/dev/null
fi

if [[ -z "${VIRTUAL_ENV:-}" ]]; then
    [[ -x .venv/bin/python ]] || python3 -m venv .venv
    # shellcheck disable=SC1091
    source .venv/bin/activate
fi
python -m pip install --quiet --disable-pip-version-check -e '.[test]'
npm ci --prefix contracts --no-audit --no-fund --silent
npm ci --prefix scripts/icons --ignore-scripts --no-audit --no-fund --silent  # the icons' source, for their test
npm ci --prefix tests/browser --ignore-scripts --no-audit --no-fund --silent  # axe-core, for the pages' test

ruff check .
ruff format --check .
mypy
python -m pytest "$@"
