#!/usr/bin/env bash
# Install the Debian packages that some checks need, only those that are missing.
#
#   scripts/install_system_deps.sh browser     Chromium (+ a font) for tests/site/test_browser.py
#   scripts/install_system_deps.sh tex         the TeX packages `make pdf` needs (STYLE.md §12)
#   scripts/install_system_deps.sh browser tex both
#
# Idempotent: a package already installed is not touched, and `apt-get update` runs (once)
# only when something is missing. Without root or apt-get it prints what to install and
# exits non-zero.
set -euo pipefail

BROWSER_PKGS=(chromium fonts-dejavu-core)
TEX_PKGS=(texlive-xetex texlive-latex-extra texlive-fonts-recommended texlive-plain-generic
          latexmk fonts-freefont-otf xindy)

usage() {
    echo "usage: $0 {browser|tex} [...]" >&2
    exit 2
}

[ $# -ge 1 ] || usage
wanted=()
for group in "$@"; do
    case "$group" in
        browser) wanted+=("${BROWSER_PKGS[@]}") ;;
        tex) wanted+=("${TEX_PKGS[@]}") ;;
        *) usage ;;
    esac
done

installed() {
    [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]
}

missing=()
for pkg in "${wanted[@]}"; do
    if ! command -v dpkg-query >/dev/null 2>&1 || ! installed "$pkg"; then
        missing+=("$pkg")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    echo "install_system_deps: already installed: ${wanted[*]}"
    exit 0
fi

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "install_system_deps: missing ${missing[*]}; install them as root with:" \
         "apt-get update && apt-get install -y ${missing[*]}" >&2
    exit 1
fi

echo "install_system_deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Wait for another apt (e.g. unattended upgrades) instead of failing on its lock. TeX comes
# without recommends (TeX Live's documentation alone is hundreds of MB); Chromium with them.
apt_install() { apt-get -o DPkg::Lock::Timeout=600 install -y -q "$@"; }
apt-get -o DPkg::Lock::Timeout=600 update -q
tex_missing=() other_missing=()
for pkg in "${missing[@]}"; do
    if [[ " ${TEX_PKGS[*]} " == *" $pkg "* ]]; then tex_missing+=("$pkg"); else other_missing+=("$pkg"); fi
done
[ ${#tex_missing[@]} -eq 0 ] || apt_install --no-install-recommends "${tex_missing[@]}"
[ ${#other_missing[@]} -eq 0 ] || apt_install "${other_missing[@]}"
