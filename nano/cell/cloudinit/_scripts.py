"""
Shell scripts that the guest runs once, through cloud-init's ``runcmd``:
one grows a root file system on LVM, one puts the data disks into LVM.
They run under ``sh -e`` and are written for POSIX sh, so that dash and
bash both run them.
"""

import shlex

#: The volume group and logical volume made from the data disks.
DATA_VOLUME_GROUP = "nano_data"
DATA_VOLUME = f"/dev/{DATA_VOLUME_GROUP}/data"

# cloud-init's growpart and resize_rootfs modules grow a root file system
# on a plain partition, but not one on LVM (the CentOS layout). This
# grows the partition under the root volume group's first physical
# volume, then the physical volume, the logical volume and its file
# system. growpart exits 1 when there is nothing to grow.
GROW_LVM_ROOT = """\
root=$(findmnt -no SOURCE /)
lvs "$root" >/dev/null 2>&1 || exit 0
group=$(lvs --noheadings -o vg_name "$root" | tr -d ' ')
volumes=$(pvs --noheadings -o pv_name -S vg_name="$group")
volume=$(echo "$volumes" | awk 'NR == 1 {print $1}')
partition=$(cat "/sys/class/block/$(basename "$volume")/partition")
disk=/dev/$(lsblk -no pkname "$volume" | head -n 1)
growpart "$disk" "$partition" || [ $? -eq 1 ]
pvresize "$volume"
lvextend -r -l +100%FREE "$root" || true
"""

# Builds the data volume only from blank disks, so that a disk holding a
# partition table or file system is never overwritten. When the volume
# group exists already (the system disk was reset from an image), the
# data volume is only mounted again.
_DATA_DISKS = """\
group={group}
mount_point={mount_point}
if ! vgs "$group" >/dev/null 2>&1; then
    for disk in {devices}; do
        if blkid -p "$disk" >/dev/null 2>&1; then
            echo "nano: $disk is not blank; not touching the data disks" >&2
            exit 1
        fi
    done
    pvcreate {devices}
    vgcreate "$group" {devices}
    lvcreate -y -l 100%FREE -n data "$group"
    mkfs.ext4 -q {volume}
fi
mkdir -p "$mount_point"
if ! grep -q '^{volume} ' /etc/fstab; then
    echo "{volume} $mount_point ext4 defaults,nofail 0 2" >>/etc/fstab
fi
mountpoint -q "$mount_point" || mount "$mount_point"
"""


def data_disks_script(devices, mount_point):
    """
    Return the script that makes one LVM volume of ``devices`` and mounts
    it at ``mount_point`` with an /etc/fstab entry.

    :param devices: the data disks' device paths in the guest.
    """
    return _DATA_DISKS.format(
        group=DATA_VOLUME_GROUP,
        mount_point=shlex.quote(mount_point),
        devices=" ".join(shlex.quote(device) for device in devices),
        volume=DATA_VOLUME,
    )
