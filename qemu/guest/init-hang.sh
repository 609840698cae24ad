#!/bin/sh
# A deliberately broken slot (QEMU suite): init arms the hardware watchdog and then hangs, so
# only the watchdog reset brings the board back to the bootloader.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
. /etc/slotflip/image.env
mount -t proc proc /proc
mount -t devtmpfs dev /dev 2>/dev/null
for m in $MODULES; do insmod "/lib/modules/$KREL/$m" 2>/dev/null; done
insmod "/lib/modules/$KREL/$WATCHDOG_KO" $WATCHDOG_ARGS
echo "slotflip-init: broken image (variant hang), arming the watchdog and hanging"
exec 3>/dev/watchdog
while true; do sleep 3600; done
