#!/bin/sh
# A deliberately broken slot (QEMU suite): init exits at once, the kernel panics ("Attempted
# to kill init") and, with panic=N on the command line, reboots into the bootloader.
echo "slotflip-init: broken image (variant panic), exiting PID 1"
exit 1
