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
constraints=constraints.txt
torch_pins=("torch==2.13.0")
if $test_setup; then
    extras="[test,onnx2tf]"
    # The tests also export torchvision's zoo models. torchvision 0.28 does not import with torch 2.13.0; the
    # working pair is torch 2.14.1 + torchvision 0.29.1 (FINDINGS.md), whose only build on the index is the CUDA
    # one (about 4.5 GB more, runs on the CPU). So the test venv takes that pair; the main job keeps 2.13.0.
    grep -v '^torch==' constraints.txt > .venv/constraints-test.txt
    constraints=.venv/constraints-test.txt
    torch_pins=("torch==2.14.1" "torchvision==0.29.1")
fi
# torch first and pinned: an unpinned resolve can fetch a multi-GB CUDA build.
.venv/bin/pip install -q --disable-pip-version-check -c "$constraints" "${torch_pins[@]}"
.venv/bin/pip install -q --disable-pip-version-check -c "$constraints" -e ".${extras}"
# The Arm check test (`edgeprune verify --arm`) needs an emulated aarch64 Python: about 45 s and 320 MB.
if $test_setup; then scripts/arm-sysroot.sh .venv/arm-sysroot; fi
