#!/usr/bin/env bash
# Installs what `npm run bench` needs beyond scripts/setup.sh: the reference tools (wrk, dnsperf,
# unbound, iperf3), ethtool and strace (offloads and spawned processes in the report), and what
# the project itself needs (nats-server, nft, ipvsadm, qemu for the IPVS row ...). Idempotent;
# apt-get update only when something is missing. Run as root.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(wrk dnsperf unbound iperf3 ethtool strace curl dnsutils util-linux procps iproute2 nftables iptables ipvsadm nats-server
  qemu-system-x86 busybox-static kmod)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "bench setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [[ ! -d node_modules ]]; then
  echo "bench setup: installing npm packages"
  npm ci --no-audit --no-fund --loglevel=error
fi
# meshd and meshctl start from the bundle when it is fresh (the bench times them, not tsx);
# build it only when a source is newer (another run may be using dist/ right now).
if [[ ! -f dist/meshd.mjs || ! -f dist/meshctl.mjs ]] || [[ -n "$(find cli core manager worker lb dns -name '*.ts' -newer dist/meshd.mjs -print -quit)" ]]; then
  npm run --silent build
fi
