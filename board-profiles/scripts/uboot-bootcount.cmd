# slotflip boot script for U-Boot (hush). The image builder fills the at-sign fields from the
# board profile and wraps the result with `mkimage -T script` into boot.scr, which U-Boot's
# distro boot finds on the first partition.
#
# It applies U-Boot's bootcount convention itself, for builds without CONFIG_BOOTCOUNT_LIMIT:
#   upgrade_available=1 -> bootcount+1 (saved before the kernel starts);
#   bootcount > bootlimit -> altbootcmd, which here means: boot the other slot.
# The env lives in a raw disk region (like CONFIG_ENV_IS_IN_MMC) that Linux and fw_printenv
# read and write at the same offset: single copy, CRC-32 header, @ENV_SIZE@ bytes.
# Hush locals (name=value) survive `env import -d`, so board values are kept in them.
sf_buf=@ENV_BUF@
sf_kaddr=@KERNEL_ADDR@
sf_raddr=@RAMDISK_ADDR@
sf_fdt=@FDT_ADDR@
sf_write=0
sf_fresh=0
@SCAN@
if @IF@ read ${sf_buf} @ENV_BLK@ @ENV_CNT@ && env import -d -c ${sf_buf} @ENV_SIZE@; then
  echo "slotflip-boot: env loaded from @IF@ @DEV@ offset @ENV_OFFSET@"
else
  echo "slotflip-boot: no valid env at @ENV_OFFSET@, writing defaults"
  setenv @SLOTVAR@ a
  setenv upgrade_available 0
  setenv bootcount 0
  setenv bootlimit @BOOTLIMIT@
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
    env export -c -s @ENV_SIZE@ ${sf_buf} @SLOTVAR@ upgrade_available bootcount bootlimit
  else
    env export -c -s @ENV_SIZE@ ${sf_buf}
  fi
  if @IF@ write ${sf_buf} @ENV_BLK@ @ENV_CNT@; then echo "slotflip-boot: env saved, bootcount=${bootcount}"; else echo "slotflip-boot: env write failed"; fi
fi
if test "${sf_boot}" = "b"; then sf_part=@PART_B@; else sf_part=@PART_A@; fi
setenv bootargs "console=@CONSOLE@ @SLOTPARAM@=${sf_boot} panic=5 @EXTRA_ARGS@"
echo "slotflip-boot: booting slot ${sf_boot} from @IF@ @DEV@:${sf_part}"
if ext4load @IF@ @DEV@:${sf_part} ${sf_kaddr} @KERNEL@ && ext4load @IF@ @DEV@:${sf_part} ${sf_raddr} @INITRD@; then
  @BOOTCMD@ ${sf_kaddr} ${sf_raddr}:${filesize} ${sf_fdt}
fi
echo "slotflip-boot: slot ${sf_boot} did not start; resetting"
reset
