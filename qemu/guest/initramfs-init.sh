#!/bin/sh
# slotflip initramfs (/init). Loads the disk and ext4 drivers, picks the slot's root from the
# kernel command line (slotflip.slot=a|b), mounts it read-only and switches into its /sbin/init.
# With FIRSTSTAGE=1 (boards whose U-Boot cannot boot Linux, e.g. the MIPS Malta under QEMU) it
# first plays the bootloader's part: the same env region, the same bootcount rules as the
# U-Boot boot script, counted with fw_printenv/fw_setenv.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
. /etc/initramfs.env

fail() {
	echo "slotflip-initramfs: $*; rebooting"
	sleep 1
	echo b > /proc/sysrq-trigger
	reboot -f
}

for m in $MODULES; do
	insmod "/lib/modules/$m" || echo "slotflip-initramfs: insmod $m failed"
done
i=0
while [ ! -b "$PART_A" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
[ -b "$PART_A" ] || fail "$PART_A did not appear"

slot=$(sed -n 's/.*slotflip\.slot=\([ab]\).*/\1/p' /proc/cmdline)
if [ "$FIRSTSTAGE" = 1 ]; then
	cfg=/etc/fw_env.config
	get() { fw_printenv -c $cfg -n "$1" 2>/dev/null; }
	if ! fw_printenv -c $cfg >/dev/null 2>&1; then
		echo "slotflip-firststage: no valid env, starting from defaults"
		# One variable per call: libubootenv 0.3.2's fw_setenv -s does not apply its script.
		fw_setenv -c $cfg "$SLOTVAR" a && fw_setenv -c $cfg upgrade_available 0 &&
			fw_setenv -c $cfg bootcount 0 && fw_setenv -c $cfg bootlimit "$BOOTLIMIT" || fail "cannot write the env"
	fi
	cur=$(get "$SLOTVAR")
	ua=$(get upgrade_available)
	bc=$(get bootcount)
	bl=$(get bootlimit)
	case "$bc" in [0-9]) ;; *) bc=0 ;; esac
	case "$bl" in [1-9]) ;; *) bl=$BOOTLIMIT ;; esac
	if [ "$cur" = b ]; then slot=b; other=a; else slot=a; other=b; fi
	echo "slotflip-firststage: $SLOTVAR=$cur upgrade_available=$ua bootcount=$bc bootlimit=$bl"
	if [ "$ua" = 1 ]; then
		# Counting stops one past the limit, as in the U-Boot script (single hex digit there).
		if [ "$bc" -le "$bl" ]; then
			bc=$((bc + 1))
			fw_setenv -c $cfg bootcount $bc || fail "cannot write the env"
		fi
		if [ "$bc" -gt "$bl" ]; then
			echo "slotflip-firststage: bootcount $bc > bootlimit $bl: altbootcmd, booting slot $other"
			slot=$other
		fi
	fi
	echo "slotflip-firststage: booting slot $slot"
	export SLOTFLIP_FIRSTSTAGE_SLOT=$slot
fi

case "$slot" in
a) root=$PART_A ;;
b) root=$PART_B ;;
*) echo "slotflip-initramfs: no slotflip.slot= on the command line, using slot a"; slot=a; root=$PART_A ;;
esac
echo "slotflip-initramfs: slot $slot root $root"
mkdir -p /newroot
mount -t ext4 -o ro "$root" /newroot || fail "cannot mount $root (slot $slot)"
[ -x /newroot/sbin/init ] || fail "slot $slot has no /sbin/init"
mount --move /dev /newroot/dev
umount /sys /proc
exec switch_root /newroot /sbin/init
