#!/usr/bin/env bash
# Build an emulated aarch64 Python for `edgeprune verify BUILD_DIR --arm SYSROOT` (Debian 12, x86_64).
#   scripts/arm-sysroot.sh SYSROOT
# SYSROOT gets Debian's arm64 python3.11 (extracted .debs, nothing installed system-wide but qemu-user-static
# and the arm64 package lists) and aarch64 wheels of numpy, ai-edge-litert and onnxruntime at the versions in
# constraints.txt; SYSROOT/bin/pyarm runs it under qemu-aarch64-static. Re-running skips finished steps.
# Afterwards no network is needed. Emulated timings mean nothing: this only shows that an artifact loads and
# computes the same on Arm builds of its runtime.
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: $0 SYSROOT" >&2; exit 2; }
cd "$(dirname "$0")/.."
mkdir -p "$1"
sysroot=$(cd "$1" && pwd)
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive

pin() { grep -i "^$1==" constraints.txt; }
wheels="$(pin numpy) $(pin ai-edge-litert) $(pin onnxruntime)"

# 1. qemu-user-static (binfmt_misc is not needed: the launcher calls qemu explicitly) and arm64 package lists
if ! command -v qemu-aarch64-static >/dev/null || ! /usr/bin/python3 -m pip --version >/dev/null 2>&1; then
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq qemu-user-static python3-pip >/dev/null
fi
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    $sudo dpkg --add-architecture arm64
    $sudo apt-get update -qq
elif ! ls /var/lib/apt/lists/*binary-arm64_Packages* >/dev/null 2>&1; then
    $sudo apt-get update -qq
fi

# 2. python3.11 and the shared libraries it and its stdlib modules (ctypes, ssl, zlib, lzma, ...) link against
debs=(libc6 libgcc-s1 libstdc++6 zlib1g libexpat1 libffi8 libssl3 libbz2-1.0 liblzma5 libsqlite3-0 libuuid1
      libcrypt1 libpython3.11-minimal libpython3.11-stdlib python3.11-minimal python3.11)
if [ "$(cat "$sysroot/.debs-done" 2>/dev/null)" != "${debs[*]}" ]; then
    rm -rf "$sysroot/.debs"
    mkdir -p "$sysroot/.debs"
    chown _apt "$sysroot/.debs" 2>/dev/null || true  # apt downloads as _apt when it can
    (cd "$sysroot/.debs" && apt-get download -qq "${debs[@]/%/:arm64}" >/dev/null)
    for deb in "$sysroot"/.debs/*.deb; do dpkg-deb -x "$deb" "$sysroot"; done
    echo "${debs[*]}" > "$sysroot/.debs-done"
fi

# 3. aarch64 wheels, fetched by the host pip and unpacked (numpy held at its pin by a constraint)
if [ "$(cat "$sysroot/.wheels-done" 2>/dev/null)" != "$wheels" ]; then
    rm -rf "$sysroot/.wheels" "$sysroot/site-packages"
    mkdir -p "$sysroot/.wheels" "$sysroot/site-packages"
    pin numpy > "$sysroot/.wheels/constraints.txt"
    platforms=()
    for p in manylinux_2_36_aarch64 manylinux_2_34_aarch64 manylinux_2_28_aarch64 manylinux_2_27_aarch64 \
             manylinux2014_aarch64 any; do platforms+=(--platform "$p"); done
    # shellcheck disable=SC2086  # $wheels is a list of requirement specifiers
    /usr/bin/python3 -m pip download -q --disable-pip-version-check --only-binary=:all: --python-version 3.11 \
        --implementation cp --abi cp311 --abi abi3 --abi none "${platforms[@]}" \
        -c "$sysroot/.wheels/constraints.txt" -d "$sysroot/.wheels" $wheels
    /usr/bin/python3 - "$sysroot" <<'EOF'
import pathlib, stat, sys, zipfile

root = pathlib.Path(sys.argv[1])
site = root / "site-packages"
for wheel in sorted((root / ".wheels").glob("*.whl")):
    with zipfile.ZipFile(wheel) as archive:
        for info in archive.infolist():
            target = (site / info.filename).resolve()
            if not target.is_relative_to(site.resolve()):
                sys.exit(f"{wheel.name}: member {info.filename} would land outside {site}")
            archive.extract(info, site)
            if (info.external_attr >> 16) & stat.S_IXUSR:  # keep bundled .so files executable
                target.chmod(target.stat().st_mode | 0o111)
EOF
    # Byte-compile with the host's CPython 3.11 (same bytecode), so emulated runs do not compile.
    /usr/bin/python3 -m compileall -q -j 2 "$sysroot/usr/lib/python3.11" "$sysroot/site-packages" >/dev/null 2>&1 || true
    echo "$wheels" > "$sysroot/.wheels-done"
fi

# 4. An Arm /proc/cpuinfo: qemu-user passes the host's x86 one through, and the CPU detection inside XNNPACK and
#    onnxruntime then finds no Arm core and crashes at import. With -L, qemu reads SYSROOT/proc/cpuinfo instead.
mkdir -p "$sysroot/proc"
for ((i = 0; i < $(getconf _NPROCESSORS_CONF); i++)); do
    printf 'processor\t: %d\nBogoMIPS\t: 50.00\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp ssbs\nCPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x3\nCPU part\t: 0xd0c\nCPU revision\t: 1\n\n' "$i"
done > "$sysroot/proc/cpuinfo"  # Neoverse-N1 (Armv8.2 with dot-product)

# 5. The launcher. QEMU_CPU max,sme=off: with SME on, qemu 7.2 computes wrong int8 results in XNNPACK kernels.
mkdir -p "$sysroot/bin"
cat > "$sysroot/bin/pyarm" <<EOF
#!/bin/sh
# aarch64 CPython 3.11 of this sysroot under qemu-user (made by edgeprune's scripts/arm-sysroot.sh)
exec env -u PYTHONHOME -u PYTHONSTARTUP PYTHONNOUSERSITE=1 PYTHONPATH="$sysroot/site-packages" \\
    QEMU_CPU="\${QEMU_CPU:-max,sme=off}" qemu-aarch64-static -L "$sysroot" "$sysroot/usr/bin/python3.11" "\$@"
EOF
chmod +x "$sysroot/bin/pyarm"
"$sysroot/bin/pyarm" -c 'import platform, numpy, onnxruntime, ai_edge_litert.interpreter; print("arm sysroot ready:", platform.machine(), platform.python_version())'
