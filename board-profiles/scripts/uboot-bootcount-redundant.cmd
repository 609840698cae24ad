# slotflip boot script for U-Boot (hush), redundant env. The image builder fills the at-sign
# fields from the board profile and wraps the result with `mkimage -T script` into boot.scr,
# which U-Boot's distro boot finds on the first partition.
#
# It applies U-Boot's bootcount convention itself, for builds without CONFIG_BOOTCOUNT_LIMIT:
#   upgrade_available=1 -> bootcount+1 (saved before the kernel starts);
#   bootcount > bootlimit -> altbootcmd, which here means: boot the other slot.
# The env is two raw disk regions in U-Boot's redundant layout (CRC-32, flags byte, data), as
# libubootenv's fw_printenv/fw_setenv and slotflip's bootenv read them: the valid copy with
# the newer flags byte wins, and every write goes to the other copy with flags+1, so a torn
# write leaves the previous env intact. `env import -c` wants CRC then data, so the CRC is
# moved one byte up (over the flags byte) before the check, and back after `env export -c`.
# Hush locals (name=value) survive `env import -d`; setexpr results are env variables, which
# the import -d clears before the env is written back.
sf_fdt=@FDT_ADDR@
sf_write=0
sf_fresh=0
sf_ok1=0
sf_ok2=0
@SCAN@
if @IF@ read @B1@ @ENV_BLK@ @ENV_CNT@; then
  setexpr.b sf_f1 *@B1F@
  cp.b @B1@ @TMP@ 4
  cp.b @TMP@ @B1P1@ 4
  if env import -c @B1P1@ @SIZEM1@ sf_probe; then sf_ok1=1; fi
fi
if @IF@ read @B2@ @ENV2_BLK@ @ENV_CNT@; then
  setexpr.b sf_f2 *@B2F@
  cp.b @B2@ @TMP@ 4
  cp.b @TMP@ @B2P1@ 4
  if env import -c @B2P1@ @SIZEM1@ sf_probe; then sf_ok2=1; fi
fi
sf_use=0
if test "${sf_ok1}" = "1"; then sf_use=1; fi
if test "${sf_ok2}" = "1"; then
  if test "${sf_ok1}" = "1"; then
    # Newer = ahead by less than half the flag space (255 -> 0 wraps).
    setexpr sf_d ${sf_f2} - ${sf_f1}
    setexpr sf_h ${sf_d} \& 80
    setexpr sf_d ${sf_d} \& ff
    if test "${sf_d}" != "0"; then
      if test "${sf_h}" = "0"; then sf_use=2; fi
    fi
  else
    sf_use=2
  fi
fi
if test "${sf_use}" = "1"; then
  setexpr sf_nf ${sf_f1} + 1
  setexpr sf_nf ${sf_nf} \& ff
  sf_newflag=${sf_nf}
  sf_wbuf=@B2@
  sf_wbufp1=@B2P1@
  sf_wflag=@B2F@
  sf_wblk=@ENV2_BLK@
  env import -d -c @B1P1@ @SIZEM1@
  echo "slotflip-boot: env copy 1 (flags ${sf_f1}) loaded from @IF@ @DEV@"
fi
if test "${sf_use}" = "2"; then
  setexpr sf_nf ${sf_f2} + 1
  setexpr sf_nf ${sf_nf} \& ff
  sf_newflag=${sf_nf}
  sf_wbuf=@B1@
  sf_wbufp1=@B1P1@
  sf_wflag=@B1F@
  sf_wblk=@ENV_BLK@
  env import -d -c @B2P1@ @SIZEM1@
  echo "slotflip-boot: env copy 2 (flags ${sf_f2}) loaded from @IF@ @DEV@"
fi
if test "${sf_use}" = "0"; then
  echo "slotflip-boot: no valid env copy, writing defaults"
  setenv @SLOTVAR@ a
  setenv upgrade_available 0
  setenv bootcount 0
  setenv bootlimit @BOOTLIMIT@
  sf_newflag=1
  sf_wbuf=@B1@
  sf_wbufp1=@B1P1@
  sf_wflag=@B1F@
  sf_wblk=@ENV_BLK@
  sf_write=1
  sf_fresh=1
fi
if test "${@SLOTVAR@}" = "b"; then sf_slot=b; sf_other=a; else sf_slot=a; sf_other=b; fi
sf_boot=${sf_slot}
if test -z "${bootcount}"; then setenv bootcount 0; fi
if test -z "${bootlimit}"; then setenv bootlimit @BOOTLIMIT@; fi
echo "slotflip-boot: @SLOTVAR@=${@SLOTVAR@} upgrade_available=${upgrade_available} bootcount=${bootcount} bootlimit=${bootlimit}"
if test "${upgrade_available}" = "1"; then
  # setexpr counts in hex: stopping one past the limit keeps bootcount a single digit.
  if test ${bootcount} -le ${bootlimit}; then
    setexpr bootcount ${bootcount} + 1
    sf_write=1
  fi
  if test ${bootcount} -gt ${bootlimit}; then
    echo "slotflip-boot: bootcount ${bootcount} > bootlimit ${bootlimit}: altbootcmd, booting slot ${sf_other}"
    sf_boot=${sf_other}
  fi
fi
if test "${sf_write}" = "1"; then
  if test "${sf_fresh}" = "1"; then
    env export -c -s @SIZEM1@ ${sf_wbufp1} @SLOTVAR@ upgrade_available bootcount bootlimit
  else
    env export -c -s @SIZEM1@ ${sf_wbufp1}
  fi
  cp.b ${sf_wbufp1} @TMP@ 4
  cp.b @TMP@ ${sf_wbuf} 4
  mw.b ${sf_wflag} ${sf_newflag}
  if @IF@ write ${sf_wbuf} ${sf_wblk} @ENV_CNT@; then echo "slotflip-boot: env saved (flags ${sf_newflag}), bootcount=${bootcount}"; else echo "slotflip-boot: env write failed"; fi
fi
if test "${sf_boot}" = "b"; then sf_part=@PART_B@; else sf_part=@PART_A@; fi
setenv bootargs "console=@CONSOLE@ @SLOTPARAM@=${sf_boot} panic=5 @EXTRA_ARGS@"
echo "slotflip-boot: booting slot ${sf_boot} from @IF@ @DEV@:${sf_part}"
if ext4load @IF@ @DEV@:${sf_part} @KERNEL_ADDR@ @KERNEL@ && ext4load @IF@ @DEV@:${sf_part} @RAMDISK_ADDR@ @INITRD@; then
  @BOOTCMD@ @KERNEL_ADDR@ @RAMDISK_ADDR@:${filesize} ${sf_fdt}
fi
echo "slotflip-boot: slot ${sf_boot} did not start; resetting"
reset
