#!/usr/bin/env bash
# Installs everything meshd needs on a fresh Debian machine: system packages, then npm packages.
# Idempotent; run as root (it installs apt packages and meshd manages network namespaces).
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(nats-server iproute2 iptables nftables ipvsadm util-linux procps curl dnsutils iperf3 ca-certificates
  # The VM lane (npm run test:vm): qemu, the initramfs's busybox (also what the tests' and the demo's images are built from), depmod for the guest kernel.
  qemu-system-x86 busybox-static kmod
  # --tls: the cluster CA and server certificates
  openssl
  # Image tasks: the engine (rootful podman; runc: crun refuses hybrid cgroup v1 layouts; catatonit:
  # compose `init: true`) and, for the tests and the demo, Debian's distribution registry.
  podman runc catatonit docker-registry)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [[ ! -d node_modules ]] || [[ package-lock.json -nt node_modules/.package-lock.json ]]; then
  echo "setup: installing npm packages"
  npm ci --no-audit --no-fund --loglevel=error
fi
# meshd, meshctl and the CNI plugin start from a bundle (bin/ falls back to the sources if it is missing or stale).
npm run --silent build

# The CNI plugin (type "meshd"), where runtimes look for plugins. Runtimes run it with a minimal
# environment (no PATH to find node), so the wrapper names node and this checkout absolutely.
CNI_BIN_DIR=${MESHD_CNI_BIN_DIR:-/opt/cni/bin}
cni_plugin="#!/bin/sh
exec $(printf %q "$(command -v node)") $(printf %q "$(pwd -P)/bin/meshd-cni.js") \"\$@\""
if [[ "$(cat "$CNI_BIN_DIR/meshd" 2>/dev/null)" != "$cni_plugin" ]]; then
  echo "setup: installing the CNI plugin $CNI_BIN_DIR/meshd"
  mkdir -p "$CNI_BIN_DIR"
  printf '%s\n' "$cni_plugin" >"$CNI_BIN_DIR/meshd.tmp"
  chmod 755 "$CNI_BIN_DIR/meshd.tmp"
  mv -f "$CNI_BIN_DIR/meshd.tmp" "$CNI_BIN_DIR/meshd"
fi
echo "setup: done"
