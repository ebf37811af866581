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
# meshd and meshctl start from a bundle (bin/ falls back to the sources if it is missing or stale).
npm run --silent build
echo "setup: done"
