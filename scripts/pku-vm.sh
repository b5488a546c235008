#!/usr/bin/env bash
# pku-vm.sh: run a command inside a small Linux guest under QEMU's software
# CPU (TCG, `-cpu max`), which implements x86 protection keys (pku, ospke),
# so PUSh and its MPK tests can run on hosts whose CPU lacks PKU.
#
# Usage: scripts/pku-vm.sh [--cpus N] [--mem SIZE] [--timeout SECONDS] [--] CMD [ARGS...]
#
# How it works:
#  - a Debian kernel (linux-image-amd64, fetched with `apt-get download`, not
#    installed) is unpacked to an uncompressed vmlinux, booted through QEMU's
#    PVH entry, with a busybox-static initramfs holding the 9p/virtio modules;
#    both are cached under ${XDG_CACHE_HOME:-$HOME/.cache}/push-pku-vm/;
#  - the host's / is shared read-only over 9p and becomes the guest's root
#    (with a throw-away tmpfs overlay, so $HOME/.cargo etc. look writable);
#    the repository is shared read-write at the same absolute path;
#  - CMD runs chrooted there, in the caller's directory, with PATH, HOME, CI,
#    PUSH_*, CARGO_*, RUST* (and a few locale variables) passed through, plus
#    PUSH_PKU_VM=1; stdin is /dev/null;
#  - its stdout/stderr travel over two virtio-serial ports (no tty, so no
#    CRLF; kernel messages go to a separate log), its exit status over a third;
#  - the script exits with CMD's status, 124 on --timeout, 125 when the guest
#    could not run it (boot failure, no pku), printing the guest console tail.
# Packages (qemu-system-x86, busybox-static, xz-utils) are installed with
# apt-get when missing and running as root. Timings under TCG mean nothing.
set -euo pipefail

me=pku-vm
die() { echo "$me: $*" >&2; exit 125; }
usage() { sed -n 's/^# Usage: //p' "${BASH_SOURCE[0]}" >&2; exit 2; }

# --- arguments ---------------------------------------------------------------
cpus=$(nproc)
mem=4G
timeout_s=
while [ $# -gt 0 ]; do
    case $1 in
        --cpus) [ $# -ge 2 ] || usage; cpus=$2; shift 2 ;;
        --mem) [ $# -ge 2 ] || usage; mem=$2; shift 2 ;;
        --timeout) [ $# -ge 2 ] || usage; timeout_s=$2; shift 2 ;;
        -h|--help) usage ;;
        --) shift; break ;;
        -*) echo "$me: unknown option $1" >&2; usage ;;
        *) break ;;
    esac
done
[ $# -ge 1 ] || usage
[[ $cpus =~ ^[1-9][0-9]*$ ]] || die "--cpus wants a positive number, got '$cpus'"
[ -z "$timeout_s" ] || [[ $timeout_s =~ ^[1-9][0-9]*$ ]] ||
    die "--timeout wants a number of seconds, got '$timeout_s'"

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cwd=$(pwd -P)
case $cwd/ in
    "$repo"/*) ;;
    *) die "the current directory $cwd is not inside the shared tree $repo" ;;
esac
[ "$(uname -m)" = x86_64 ] || die "needs an x86_64 host"

# --- host packages -----------------------------------------------------------
have_static_busybox() {
    command -v busybox >/dev/null &&
        [ "$(dpkg-query -W -f='${Status}' busybox-static 2>/dev/null)" = "install ok installed" ]
}
need_pkgs=()
command -v qemu-system-x86_64 >/dev/null || need_pkgs+=(qemu-system-x86)
have_static_busybox || need_pkgs+=(busybox-static)
command -v xz >/dev/null || need_pkgs+=(xz-utils)
if [ ${#need_pkgs[@]} -gt 0 ]; then
    [ "$(id -u)" = 0 ] ||
        die "missing packages; run: sudo apt-get install ${need_pkgs[*]}"
    echo "$me: installing ${need_pkgs[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >&2 </dev/null ||
        die "apt-get install ${need_pkgs[*]} failed"
fi

# --- kernel + base initramfs, cached -----------------------------------------
cache=${XDG_CACHE_HOME:-$HOME/.cache}/push-pku-vm
mkdir -p "$cache"
# Guest modules needed: virtio PCI, virtio-serial, 9p, overlayfs (+ their deps).
root_mods="virtio_pci virtio_console 9pnet_virtio 9p overlay"

prepare_kernel() { # $1: directory to fill (vmlinux, base.cpio, version)
    local out=$1 work pkg ver deb kver kdir off m
    work=$(mktemp -d "$cache/prep.XXXXXX")
    # shellcheck disable=SC2064 # expand now: $work is local
    trap "rm -rf '$work'" RETURN
    pkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
          awk '/Depends: linux-image-[0-9]/ { print $2; exit }') || true
    if [ -z "$pkg" ]; then
        [ "$(id -u)" = 0 ] || die "apt-cache knows no linux-image-amd64; run apt-get update"
        apt-get update -qq >&2
        pkg=$(apt-cache depends linux-image-amd64 |
              awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
        [ -n "$pkg" ] || die "cannot resolve linux-image-amd64 to a kernel package"
    fi
    echo "$me: preparing guest kernel from $pkg (once; cached in $cache)" >&2
    (cd "$work" && apt-get download -qq "$pkg" >&2 2>/dev/null) ||
        (cd "$work" && apt-get download "$pkg" >&2) || die "apt-get download $pkg failed"
    deb=$(echo "$work"/*.deb)
    ver=$(dpkg-deb -f "$deb" Version)
    dpkg-deb --fsys-tarfile "$deb" |
        tar -x -C "$work" --wildcards './boot/vmlinuz-*' './lib/modules/*/kernel/drivers/virtio/*' \
            './lib/modules/*/kernel/drivers/char/virtio_console.ko*' './lib/modules/*/kernel/net/9p/*' \
            './lib/modules/*/kernel/fs/*' './lib/modules/*/modules.builtin'
    kdir=$(echo "$work"/lib/modules/*)
    kver=${kdir##*/}
    # Uncompressed vmlinux: QEMU boots it through the PVH entry, skipping the
    # slow in-guest decompression of the bzImage (see extract-vmlinux).
    for off in $(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$work/boot/vmlinuz-$kver" | cut -d: -f1); do
        tail -c +$((off + 1)) "$work/boot/vmlinuz-$kver" |
            xz -dc --single-stream >"$work/vmlinux" 2>/dev/null || true
        [ "$(head -c 4 "$work/vmlinux" | od -An -c | tr -d ' ')" = '177ELF' ] && break
    done
    [ "$(head -c 4 "$work/vmlinux" | od -An -c | tr -d ' ')" = '177ELF' ] ||
        die "could not extract an ELF vmlinux from vmlinuz-$kver"

    # Base initramfs: static busybox and the modules, uncompressed, in load
    # order (dependencies first, from each module's depends= field).
    local ird=$work/initramfs order=()
    mkdir -p "$ird/bin" "$ird/mods" "$ird/proc" "$ird/sys" "$ird/dev" "$ird/newroot" "$ird/rw"
    cp "$(command -v busybox)" "$ird/bin/busybox"
    add_mod() {
        local name=$1 f dep
        case " ${order[*]} " in *" $name "*) return 0 ;; esac
        f=$(find "$kdir/kernel" -name "$name.ko*" | head -n1)
        if [ -z "$f" ]; then
            grep -q "/$name.ko" "$kdir/modules.builtin" && return 0
            die "kernel $kver has no module $name"
        fi
        case $f in
            *.ko) cp "$f" "$ird/mods/$name.ko" ;;
            *.ko.xz) xz -dc "$f" >"$ird/mods/$name.ko" ;;
            *.ko.zst) zstd -qdc "$f" >"$ird/mods/$name.ko" || die "need zstd for $f" ;;
            *.ko.gz) gzip -dc "$f" >"$ird/mods/$name.ko" ;;
            *) die "unknown module format $f" ;;
        esac
        for dep in $(tr '\0' '\n' <"$ird/mods/$name.ko" | sed -n 's/^depends=//p' | tr ',' ' '); do
            add_mod "$dep"
        done
        order+=("$name")
    }
    for m in $root_mods; do add_mod "$m"; done
    printf '%s\n' "${order[@]}" >"$ird/mods/order"
    (cd "$ird" && find . | LC_ALL=C sort | busybox cpio -o -H newc 2>/dev/null) >"$work/base.cpio"

    mkdir -p "$out.tmp"
    mv "$work/vmlinux" "$work/base.cpio" "$out.tmp/"
    echo "$pkg $ver $kver" >"$out.tmp/version"
    rm -rf "$out"
    mv "$out.tmp" "$out"
}

kdir_cached=$cache/kernel
[ -s "$kdir_cached/version" ] && [ -s "$kdir_cached/vmlinux" ] && [ -s "$kdir_cached/base.cpio" ] ||
    prepare_kernel "$kdir_cached"
read -r _ _ kver <"$kdir_cached/version"

# --- per-run files: init + job appended to the base initramfs -----------------
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pku-vm.XXXXXX")
qpid=
relay_pids=()
cleanup() {
    [ -z "$qpid" ] || kill "$qpid" 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

q() { printf "'%s'" "${1//\'/\'\\\'\'}"; } # quote for sh
mkdir -p "$tmp/job/pku-vm"
{
    echo "cd $(q "$cwd") || exit 125"
    printf 'exec /usr/bin/env -i PUSH_PKU_VM=1'
    while IFS= read -r var; do
        printf ' %s' "$(q "$var=${!var}")"
    done < <(compgen -e | grep -E '^(PATH|HOME|USER|LOGNAME|LANG|LC_[A-Z]+|TZ|CI|PUSH_.*|CARGO_?.*|RUST.*)$' || true)
    printf " /bin/sh -c 'exec \"\$@\"' pku-vm"   # CMD may contain '='
    for a in "$@"; do printf ' %s' "$(q "$a")"; done
    echo
} >"$tmp/job/pku-vm/job.sh"
echo "$repo" >"$tmp/job/pku-vm/repo"
echo "$*" | head -c 200 | head -n1 >"$tmp/job/pku-vm/desc"
echo "$cpus" >"$tmp/job/pku-vm/cpus"

# The guest's PID 1 (busybox sh).
cat >"$tmp/job/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in $(cat /mods/order); do insmod "/mods/$m.ko" || echo "insmod $m failed"; done
port() { # device of the virtio-serial port named $1
    for d in /sys/class/virtio-ports/*; do
        [ "$(cat "$d/name" 2>/dev/null)" = "$1" ] && { echo "/dev/${d##*/}"; return; }
    done
    echo /dev/console
}
ctl=$(port pku-vm.ctl)
exec >"$(port pku-vm.out)" 2>"$(port pku-vm.err)" </dev/null
finish() { echo "MARK cmd-done" >/dev/kmsg; sync; echo "MARK synced" >/dev/kmsg;  echo "rc=$1" >"$ctl"; poweroff -f; }
fail() { echo "pku-vm: $*" >&2; finish 125; }

flags=$(grep -m1 '^flags' /proc/cpuinfo)
if case " $flags " in *" pku "*) true ;; *) false ;; esac &&
    case " $flags " in *" ospke "*) true ;; *) false ;; esac; then
    echo "pku-vm: running '$(cat /pku-vm/desc)' in a QEMU TCG guest ($(cat /pku-vm/cpus) CPUs, Linux $(uname -r)); guest CPU has pku ospke" >&2
else
    fail "guest CPU lacks pku/ospke (flags: $flags)"
fi

echo "MARK start-mount" >/dev/kmsg
repo=$(cat /pku-vm/repo)
o=trans=virtio,version=9p2000.L,msize=262144
mkdir -p /lower && mount -t 9p -o "$o,ro,cache=loose" hostroot /lower ||
    fail "cannot mount the host root over 9p"
mount -t tmpfs -o mode=755 rw /rw && mkdir -p /rw/upper /rw/work
mount -t overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work root /newroot ||
    fail "cannot mount the overlay root"
mount -t 9p -o "$o,cache=mmap" repo "/newroot$repo" || fail "cannot mount $repo over 9p"
r=/newroot
mount -t proc proc $r/proc && mount -t sysfs sys $r/sys && mount -t devtmpfs dev $r/dev &&
    mkdir -p $r/dev/pts $r/dev/shm && mount -t devpts -o newinstance,ptmxmode=0666 devpts $r/dev/pts &&
    mount -t tmpfs -o mode=1777 shm $r/dev/shm && mount -t tmpfs -o mode=1777 tmp $r/tmp &&
    mount -t tmpfs -o mode=755 run $r/run || fail "cannot set up /proc /sys /dev /tmp in the chroot"
echo "MARK mounted" >/dev/kmsg
mkdir -p $r/run/pku-vm && cp /pku-vm/job.sh $r/run/pku-vm/job.sh
chroot $r /bin/sh /run/pku-vm/job.sh
finish $?
EOF
chmod +x "$tmp/job/init"
(cd "$tmp/job" && find . | LC_ALL=C sort | busybox cpio -o -H newc 2>/dev/null) >"$tmp/job.cpio"
cat "$kdir_cached/base.cpio" "$tmp/job.cpio" >"$tmp/initrd"

# --- output relays -------------------------------------------------------------
# QEMU writes the guest's stdout/stderr into FIFOs; cat copies them to our own
# fds (reopening /proc/self/fd/N would clobber regular files at the wrong offset).
mkfifo "$tmp/out" "$tmp/err"
cat "$tmp/out" &
relay_pids+=($!)
cat "$tmp/err" >&2 &
relay_pids+=($!)

# --- boot ------------------------------------------------------------------------
qemu=(qemu-system-x86_64 -accel tcg,thread=multi -cpu max -smp "$cpus" -m "$mem"
    -machine pc -nodefaults -no-user-config -display none -vga none -no-reboot
    -kernel "$kdir_cached/vmlinux" -initrd "$tmp/initrd"
    -append "console=ttyS0 quiet loglevel=0 panic=-1 rdinit=/init ${PKU_VM_APPEND:-}"
    -serial "file:$tmp/console.log" -monitor none
    -virtfs "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap"
    -virtfs "local,path=$repo,mount_tag=repo,security_model=none,multidevs=remap"
    -device virtio-serial-pci
    -chardev "file,id=out,path=$tmp/out" -device virtserialport,chardev=out,name=pku-vm.out
    -chardev "file,id=err,path=$tmp/err" -device virtserialport,chardev=err,name=pku-vm.err
    -chardev "file,id=ctl,path=$tmp/ctl" -device virtserialport,chardev=ctl,name=pku-vm.ctl)
if [ -n "$timeout_s" ]; then
    timeout -k 5 "$timeout_s" "${qemu[@]}" </dev/null 2>"$tmp/qemu.log" &
else
    "${qemu[@]}" </dev/null 2>"$tmp/qemu.log" &
fi
qpid=$!
qrc=0
wait "$qpid" || qrc=$?
qpid=
# Unblock relays whose FIFO QEMU never opened, then let them drain.
for f in "$tmp/out" "$tmp/err"; do exec 9<>"$f"; exec 9>&-; done
wait "${relay_pids[@]}" 2>/dev/null || true

[ -z "${PKU_VM_CONSOLE:-}" ] || cp "$tmp/console.log" "$PKU_VM_CONSOLE"
rc=$(sed -n 's/^rc=\([0-9]*\)$/\1/p' "$tmp/ctl" 2>/dev/null | tail -n1)
if [ -n "$rc" ]; then
    exit "$rc"
fi
if [ -n "$timeout_s" ] && [ "$qrc" = 124 ]; then
    echo "$me: timed out after ${timeout_s}s; killed the guest" >&2
    exit 124
fi
{
    echo "$me: the guest exited (qemu status $qrc) without reporting the command's status"
    [ ! -s "$tmp/qemu.log" ] || { echo "--- qemu:"; tail -n 20 "$tmp/qemu.log"; }
    [ ! -s "$tmp/console.log" ] || { echo "--- guest console:"; tail -n 40 "$tmp/console.log"; }
} >&2
exit 125
