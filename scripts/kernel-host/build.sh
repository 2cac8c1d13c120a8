#!/usr/bin/env bash
# Builds the kernel test host images (DESIGN.md section 5, "Kernel host"):
# a Debian 12 (bookworm) and a Debian 13 (trixie) root filesystem with the
# stock, modular linux-image-amd64, made by debootstrap from its default
# mirror, each as a raw ext4 image plus the kernel and initrd to boot it with
# qemu -kernel/-initrd. internal/testhost/kernel.go boots throwaway
# copy-on-write guests of them.
#
# Usage: scripts/kernel-host/build.sh [OUTDIR]   (run as root)
#
# OUTDIR (Debian 12; Debian 13 in OUTDIR/trixie) defaults to
# /var/cache/conntrack-kernel-host (or $CONNTRACK_KERNEL_HOST_DIR): outside
# the work tree, so every clone and worktree on the machine shares one
# ~300 MB image per release and `git clean -fdx` does not throw away a build
# that takes minutes.
#
# Each image is stamped with the SHA-256 of this script, which is the whole
# recipe (the guest's init is below): a second run with an unchanged script
# does nothing, a changed script rebuilds, and the Go side refuses a stale
# image.
set -euo pipefail

script="$(readlink -f "$0")"
out="${1:-${CONNTRACK_KERNEL_HOST_DIR:-/var/cache/conntrack-kernel-host}}"
recipe="$(sha256sum "$script" | cut -d' ' -f1)"

# current DIR: DIR holds an image built by this recipe.
current() {
	[[ -f "$1/recipe.sha256" && "$(cat "$1/recipe.sha256")" == "$recipe" &&
		-f "$1/rootfs.ext4" && -f "$1/vmlinuz" && -f "$1/initrd.img" ]]
}
if current "$out" && current "$out/trixie"; then
	echo "kernel-host: $out and $out/trixie are up to date (recipe $recipe)"
	exit 0
fi
if [[ $(id -u) != 0 ]]; then
	echo "kernel-host: run as root (debootstrap needs it)" >&2
	exit 1
fi

packages=(qemu-system-x86 qemu-utils debootstrap e2fsprogs)
missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
	echo "kernel-host: installing ${missing[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi


# Whatever ends the build (success, a failed step, Ctrl-C, kill), nothing is
# left behind: no mount inside the build directory, no build directory. The
# exit status is the build's own: cleanup must not turn a success into a
# failure (an umount of what is already unmounted returns 32 under set -e)
# nor a failure into a success. /proc is unmounted before the directory is
# removed, and rm stays on the build's file system in case it is not.
work= root=
cleanup() {
	local status=$?
	set +e
	if [[ -n $work ]]; then
		if mountpoint -q "$root/proc" 2>/dev/null; then
			umount "$root/proc" 2>/dev/null || umount -l "$root/proc"
		fi
		rm -rf --one-file-system "$work"
	fi
	exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# build SUITE DIR builds the image of Debian SUITE into DIR. (Its body is
# not indented: the here-documents in it are the guest's files.)
build() {
local suite=$1 dir=$2 start=$SECONDS
# Build beside the output and rename at the end, so a guest booting from the
# old image never sees a half-written one.
mkdir -p "$dir"
work="$(mktemp -d "$dir/.build.XXXXXX")"
root="$work/root"

# minbase keeps the image small and the build short. systemd and udev are
# there for the guests that boot it (KernelOptions.Systemd: init systems,
# modules-load.d at boot); the others boot the tiny init below. Debootstrap's
# default mirror: no mirror host is named here on purpose.
echo "kernel-host: debootstrap $suite into $root"
debootstrap --variant=minbase \
	--include=linux-image-amd64,openssh-server,iptables,nftables,kmod,iproute2,procps,sudo,conntrack,systemd,udev \
	"$suite" "$root" >"$work/debootstrap.log" 2>&1 || {
	tail -n 30 "$work/debootstrap.log" >&2
	exit 1
}

# firewalld, for the tests of modern firewall stacks (issue #14), comes from
# apt inside the new system: debootstrap cannot configure polkitd, which it
# needs (polkitd's postinst wants a configured systemd). Nothing may start
# in the chroot (policy-rc.d).
echo "kernel-host: installing firewalld ($suite)"
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 755 "$root/usr/sbin/policy-rc.d"
mount -t proc proc "$root/proc"
{
	chroot "$root" apt-get update &&
		DEBIAN_FRONTEND=noninteractive chroot "$root" apt-get install -y --no-install-recommends firewalld
} >"$work/firewalld.log" 2>&1 || {
	tail -n 30 "$work/firewalld.log" >&2
	exit 1
}
umount "$root/proc"
rm -f "$root/usr/sbin/policy-rc.d"

echo ctt-kernel-host >"$root/etc/hostname"
# Host keys are injected per boot (fresh for every guest), so the image holds
# none: every guest would otherwise share the keys made at build time.
rm -f "$root"/etc/ssh/ssh_host_*
cat >"$root/etc/ssh/sshd_config.d/ctt.conf" <<'EOF'
# conntrack kernel test host: root by key only, no PAM (no systemd-logind here).
HostKey /etc/ssh/ssh_host_ed25519_key
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
UseDNS no
PrintMotd no
MaxSessions 64
MaxStartups 200:30:400
EOF

# What both inits do before sshd starts. The host key and root's authorized
# key come base64-encoded on the kernel command line (ctt.hostkey=,
# ctt.authkey=), the simplest channel qemu has into a guest that needs no
# extra device or module.
cat >"$root/usr/local/sbin/ctt-setup" <<'EOF'
#!/bin/sh
set -e
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mkdir -p /run/sshd /root/.ssh
for word in $(cat /proc/cmdline); do
	case "$word" in
	ctt.hostkey=*) echo "${word#*=}" | base64 -d >/etc/ssh/ssh_host_ed25519_key ;;
	ctt.authkey=*) echo "${word#*=}" | base64 -d >/root/.ssh/authorized_keys ;;
	esac
done
chmod 600 /etc/ssh/ssh_host_ed25519_key /root/.ssh/authorized_keys

# qemu user networking: the guest is 10.0.2.15, the gateway (the machine) 10.0.2.2.
# The one NIC is eth0 (net.ifnames=0 on the command line).
modprobe virtio_net
ip link set lo up
ip link set eth0 up
ip addr replace 10.0.2.15/24 dev eth0
ip route replace default via 10.0.2.2
EOF
chmod 755 "$root/usr/local/sbin/ctt-setup"

# The tiny init: no systemd, no udev; the initramfs has already loaded the
# virtio drivers.
cat >"$root/sbin/ctt-init" <<'EOF'
#!/bin/sh
# PID 1 of the conntrack kernel test host; becomes sshd (which reaps orphans).
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
# The initramfs moves its /proc, /sys, /dev and /run here; mount what is missing.
mnt() { mountpoint -q "$2" || mount -t "$1" "$1" "$2"; }
mnt proc /proc
mnt sysfs /sys
mnt devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mnt devpts /dev/pts
mnt tmpfs /dev/shm
mnt tmpfs /run
mnt tmpfs /tmp
mount -o remount,rw / 2>/dev/null
hostname -F /etc/hostname
/usr/local/sbin/ctt-setup
echo "ctt-init: starting sshd"
exec /usr/sbin/sshd -D -e
EOF
chmod 755 "$root/sbin/ctt-init"

# Under systemd: the same setup as a unit ordered before sshd, sshd's log on
# the serial console (the Go side waits for "Server listening" and counts
# "Accepted" there), and nothing that only slows a throwaway guest's boot.
cat >"$root/etc/systemd/system/ctt-setup.service" <<'EOF'
[Unit]
Description=conntrack test host: keys and network from the kernel command line
Before=ssh.service
[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/local/sbin/ctt-setup
[Install]
RequiredBy=ssh.service
EOF
mkdir -p "$root/etc/systemd/system/ssh.service.requires" "$root/etc/systemd/journald.conf.d"
ln -sf ../ctt-setup.service "$root/etc/systemd/system/ssh.service.requires/ctt-setup.service"
cat >"$root/etc/systemd/journald.conf.d/ctt.conf" <<'EOF'
[Journal]
ForwardToConsole=yes
TTYPath=/dev/ttyS0
MaxLevelConsole=info
Storage=volatile
EOF
# firewalld and nftables start only when a test starts them: every other
# guest boots with no firewall, as before. firewalld's package enables itself.
chroot "$root" systemctl disable firewalld.service nftables.service >/dev/null 2>&1 || true
rm -f "$root/etc/systemd/system/multi-user.target.wants/firewalld.service" \
	"$root/etc/systemd/system/dbus-org.fedoraproject.FirewallD1.service"
for unit in apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer \
	serial-getty@ttyS0.service getty@tty1.service systemd-timesyncd.service; do
	ln -sf /dev/null "$root/etc/systemd/system/$unit"
done

kernel="$(ls "$root"/boot/vmlinuz-* | sort -V | tail -n1)"
initrd="$(ls "$root"/boot/initrd.img-* | sort -V | tail -n1)"
cp "$kernel" "$work/vmlinuz"
cp "$initrd" "$work/initrd.img"
basename "$kernel" | sed 's/^vmlinuz-//' >"$work/kernel-version"

chroot "$root" apt-get clean
rm -rf "$root"/var/lib/apt/lists/* "$root"/usr/share/doc/* "$root"/usr/share/man/*

# A raw ext4 image made straight from the directory (no loop mount), with
# room to spare for what tests write; guests write to their own qcow2 overlay, never
# to this file.
size_mb=$(($(du -sm "$root" | cut -f1) + 512))
truncate -s "${size_mb}M" "$work/rootfs.ext4"
mkfs.ext4 -q -F -L ctt-root -d "$root" "$work/rootfs.ext4"

for f in rootfs.ext4 vmlinuz initrd.img kernel-version; do
	mv -f "$work/$f" "$dir/$f"
done
echo "$recipe" >"$dir/recipe.sha256"
rm -rf --one-file-system "$work"
work=
echo "kernel-host: built $dir (Debian $suite, kernel $(cat "$dir/kernel-version"), ${size_mb} MB image) in $((SECONDS - start)) s"
}

# Debian 12, and Debian 13: no /etc/sysctl.conf, no 99-sysctl.conf link
# (systemd 257), kernel 6.12 (issue #26).
current "$out" || build bookworm "$out"
current "$out/trixie" || build trixie "$out/trixie"
