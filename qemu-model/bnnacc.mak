# Devices of the bnnacc test bench's qemu-system-x86_64 (configure
# --without-default-devices --with-devices-x86_64=bnnacc; scripts/build-qemu.sh
# installs this file as configs/devices/x86_64-softmmu/bnnacc.mak).
#
# The PC boards: pc (i440FX), q35, isapc and microvm. They select what a
# console needs (serial-isa, i8259, RTC, ...). Run the binary with -nodefaults.
include ../i386-softmmu/default.mak

# pcie-root-port: slots on q35 that hot-plug and hot-unplug the card
CONFIG_PCIE_PORT=y

# virtio-9p-pci: the host directory shared with the test guest
CONFIG_VIRTIO_PCI=y
CONFIG_VIRTIO_9P=y

# The card (hw/misc/bnnacc.c + hw/misc/bnnacc_core.c)
CONFIG_BNNACC=y

# intel-iommu (VT-d): the VM bench's IOMMU lane (VM_IOMMU=1), where a DMA
# after the driver let go of a buffer faults instead of landing silently
CONFIG_VTD=y
