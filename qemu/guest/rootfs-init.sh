#!/bin/sh
# slotflip slot init (PID 1 of each slot's rootfs in the QEMU images). Mounts the runtime
# folders and the data partition, brings up user networking, prints the boot marker the suite
# waits for, starts the agent when the image has a device config, and keeps a shell on the console.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root
. /etc/slotflip/image.env
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
mkdir -p /dev/pts
mount -t devpts devpts /dev/pts
mount -t tmpfs -o mode=0755 tmpfs /run
mount -t tmpfs tmpfs /tmp
# A first stage that picked the slot itself says so here; the agent reads /proc/cmdline.
if [ -n "$SLOTFLIP_FIRSTSTAGE_SLOT" ]; then
	echo "$(cat /proc/cmdline) slotflip.slot=$SLOTFLIP_FIRSTSTAGE_SLOT" > /run/cmdline
	mount --bind /run/cmdline /proc/cmdline
fi
slot=$(sed -n 's/.*slotflip\.slot=\([ab]\).*/\1/p' /proc/cmdline)
for m in $MODULES; do
	insmod "/lib/modules/$KREL/$m" || echo "slotflip-init: insmod $m failed"
done
# The watchdog driver is loaded but not opened: whoever opens /dev/watchdog (the agent) feeds it.
[ -n "$WATCHDOG_KO" ] && insmod "/lib/modules/$KREL/$WATCHDOG_KO" $WATCHDOG_ARGS
if ! mount -t ext4 "$DATA_DEV" /data; then
	echo "slotflip-init: formatting the data partition $DATA_DEV"
	mke2fs -t ext4 -q "$DATA_DEV" && mount -t ext4 "$DATA_DEV" /data
fi
hostname "$DEVICE_ID"
ip link set lo up
ip link set eth0 up && ip addr add 10.0.2.15/24 dev eth0 && ip route add default via 10.0.2.2
# Kernel chatter past this point would interleave with the console shell the suite types into.
echo 4 > /proc/sys/kernel/printk
echo "SLOTFLIP-BOOTED slot=$slot version=$VERSION board=$BOARD variant=$VARIANT"
[ -x /etc/slotflip/rc.local ] && /etc/slotflip/rc.local
if [ -n "$AGENT_ARGS" ] && [ -f /etc/slotflip/device.json ]; then
	(
		while true; do
			# the flags and environment of every service unit (src/service/spec.ts AGENT_NODE_FLAGS, AGENT_ENV)
			GLIBC_TUNABLES=glibc.malloc.mmap_threshold=131072 node --max-semi-space-size=1 --expose-gc /usr/lib/slotflip/slotflip.mjs $AGENT_ARGS
			echo "slotflip-init: agent exited with $?"
			sleep 2
		done
	) &
fi
# PID 1 has no default signal actions: busybox `reboot`/`poweroff` (without -f) signal init
# (TERM, USR2), so handle them here: sync, unmount the data partition, then do it.
shutdown() {
	echo "slotflip-init: $1"
	sync
	umount /data 2>/dev/null
	$1 -f
}
trap 'shutdown reboot' TERM
trap 'shutdown poweroff' USR2
(
	while true; do
		setsid cttyhack sh -l
	done
) &
# `wait` returns when a trapped signal arrives; the traps above then run.
while true; do
	wait
done
