#!/bin/busybox sh
# PID 1 of the test VM's initramfs (busybox). Loads the drivers for virtio and 9p, mounts this
# machine's root filesystem read-only (9p) under a tmpfs overlay, the kernel's modules and the
# checkout (read-write) over 9p, then switches root and runs test/vm/guest.sh there.
# Kernel command line: meshd.checkout=<absolute path of the checkout>.
/bin/busybox --install -s /bin
export PATH=/bin
mkdir -p /proc /sys /dev /lower /rw /newroot
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
fail() { echo "vm-init: $*"; poweroff -f; }

for m in $(cat /modules.list); do
  insmod "/modules/$m.ko" || fail "insmod $m failed"
done

checkout=
for arg in $(cat /proc/cmdline); do
  case "$arg" in meshd.checkout=*) checkout="${arg#meshd.checkout=}" ;; esac
done
[ -n "$checkout" ] || fail "no meshd.checkout= on the kernel command line"
kver=$(uname -r)

mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,cache=loose,ro hostroot /lower || fail "mount hostroot"
mount -t tmpfs -o size=8g tmpfs /rw
mkdir -p /rw/upper /rw/work
mount -t overlay overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work /newroot || fail "mount overlay"

for d in proc sys dev; do mount --move /$d /newroot/$d; done
mkdir -p /newroot/dev/pts /newroot/dev/shm
mount -t devpts devpts /newroot/dev/pts
mount -t tmpfs tmpfs /newroot/dev/shm
mount -t tmpfs tmpfs /newroot/run
mount -t tmpfs tmpfs /newroot/tmp
mount -t cgroup2 cgroup2 /newroot/sys/fs/cgroup 2>/dev/null
mkdir -p "/newroot/usr/lib/modules/$kver"
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,ro modules "/newroot/usr/lib/modules/$kver" || fail "mount modules"
# The checkout last: it may live below /tmp.
mkdir -p "/newroot$checkout"
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 checkout "/newroot$checkout" || fail "mount checkout"

exec switch_root /newroot /bin/bash "$checkout/test/vm/guest.sh" "$checkout"
