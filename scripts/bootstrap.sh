#!/usr/bin/env bash
# Set up edgeprune on a fresh Debian 12 machine (Python 3.11): system packages, a venv in .venv, the project.
#   scripts/bootstrap.sh          what `edgeprune build` needs
#   scripts/bootstrap.sh --test   plus what the test suite needs (pytest, an OpenSSH server for SSH tests)
set -euo pipefail
cd "$(dirname "$0")/.."

test_setup=false
[ "${1:-}" = "--test" ] && test_setup=true

sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
apt_packages=(python3-venv dataset-fashion-mnist)
$test_setup && apt_packages+=(openssh-server chromium fonts-dejavu-core)  # sshd for SSH tests, a browser for report tests
if ! dpkg -s "${apt_packages[@]}" >/dev/null 2>&1; then
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${apt_packages[@]}" >/dev/null
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
extras=""
$test_setup && extras="[test]"
# torch first and pinned: an unpinned resolve can fetch a multi-GB CUDA build.
.venv/bin/pip install -q --disable-pip-version-check -c constraints.txt "torch==2.13.0"
.venv/bin/pip install -q --disable-pip-version-check -c constraints.txt -e ".${extras}"
