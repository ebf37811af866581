#!/bin/bash
# Runs as PID 1 inside the test VM after init.sh switched root: sets the machine up like a
# booted host (loopback, module autoloading, hostname), runs the command the runner wrote to
# .vm/command in the checkout, records its exit status in .vm/status, and powers off.
checkout=$1
cd "$checkout" || exit 1
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TERM=dumb
echo /usr/sbin/modprobe > /proc/sys/kernel/modprobe
hostname meshd-vm
ip link set lo up
mkdir -p /run/netns /var/lib/meshd
echo "vm: kernel $(uname -r), $(nproc) cpus, ip_vs $(modprobe ip_vs && echo loaded || echo MISSING)"
status=0
bash .vm/command || status=$?
echo "$status" > .vm/status
sync
echo "vm: command exited $status"
echo o > /proc/sysrq-trigger
sleep 10
