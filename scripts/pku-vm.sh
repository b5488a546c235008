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
#    PVH entry (no slow in-guest decompression), with a busybox-static
#    initramfs holding the virtio/9p/overlay modules; both are cached under
#    ${XDG_CACHE_HOME:-$HOME/.cache}/push-pku-vm/KERNEL-VERSION/;
#  - the host's / is shared read-only over 9p and becomes the guest's root,
#    under a throw-away tmpfs overlay (so $HOME/.cargo etc. look writable);
#    the repository is shared read-write at the same absolute path;
#  - CMD runs chrooted there, in the caller's directory, stdin /dev/null, with
#    PATH, HOME, USER, LANG, LC_*, TZ, CI, PUSH_*, CARGO_*, RUST* passed
#    through, plus PUSH_PKU_VM=1;
#  - its stdout/stderr travel over two virtio-serial ports (no tty: no CRLF,
#    no kernel messages; those go to a console log), its status over a third;
#  - exit status: CMD's; 124 on --timeout; 125 when the guest could not run
#    it (no boot, no pku), with the tail of the guest console on stderr.
# Missing packages (qemu-system-x86, busybox-static, xz-utils) are installed
# with apt-get when running as root. Timings under TCG mean nothing.
# Debug knobs: PKU_VM_APPEND (extra kernel arguments), PKU_VM_CONSOLE (file to
# copy the guest console log to), PKU_VM_REFRESH=1 (re-resolve the kernel).
set -euo pipefail

me=pku-vm
die() { echo "$me: $*" >&2; exit 125; }
usage() { sed -n 's/^# Usage: /usage: /p' "${BASH_SOURCE[0]}" >&2; exit 2; }

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
    die "--timeout wants whole seconds, got '$timeout_s'"
[ "$(uname -m)" = x86_64 ] || die "needs an x86_64 host"

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cwd=$(pwd -P)
case $cwd/ in
    "$repo"/*) ;;
    *) die "the current directory $cwd is not inside the shared tree $repo" ;;
esac

# --- cleanup on every exit: never leave qemu or temp files behind ---------------
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pku-vm.XXXXXX")
work=
qpid=
relays=()
# shellcheck disable=SC2317 # reached through the trap
cleanup() {
    if [ -n "$qpid" ]; then kill "$qpid" 2>/dev/null || true; wait "$qpid" 2>/dev/null || true; fi
    for p in "${relays[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -rf "$tmp" ${work:+"$work"}
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

# --- host packages -----------------------------------------------------------
pkg_ok() { [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]; }
apt_install() { # install "$@" without removing anything; output in $tmp/apt.log
    local q=(-y -qq --no-install-recommends --no-remove) cn uri d=$tmp/apt
    export DEBIAN_FRONTEND=noninteractive
    { apt-get update -qq && apt-get install "${q[@]}" "$@"; } </dev/null >"$tmp/apt.log" 2>&1 &&
        return 0
    # E.g. this image's qemu-utils from backports Breaks the stable
    # qemu-system-common: retry with the release's backports added, in a
    # private copy of the apt sources and lists.
    cn=$(sed -n 's/^VERSION_CODENAME=//p' /etc/os-release 2>/dev/null || true)
    # shellcheck disable=SC2016 # $(...) here is apt's format, not the shell's
    uri=$(apt-get indextargets --format '$(REPO_URI) $(RELEASE)' 2>/dev/null |
          awk -v r="$cn" '$2 == r { print $1; exit }')
    [ -n "$cn" ] && [ -n "$uri" ] || return 1
    echo "$me: stable packages conflict with installed ones; trying $cn-backports" >&2
    mkdir -p "$d/parts" "$d/lists/partial"
    cp /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources "$d/parts/" 2>/dev/null || true
    echo "deb $uri $cn-backports main" >"$d/parts/pku-vm-backports.list"
    local o=(-o "Dir::Etc::sourceparts=$d/parts" -o "Dir::State::lists=$d/lists"
             -o APT::Sandbox::User=root)
    { apt-get "${o[@]}" update -qq && apt-get "${o[@]}" install "${q[@]}" -t "$cn-backports" "$@"; } \
        </dev/null >>"$tmp/apt.log" 2>&1
}
need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
pkg_ok busybox-static || need+=(busybox-static) # the initramfs needs the static one
command -v xz >/dev/null || need+=(xz-utils)
if [ ${#need[@]} -gt 0 ]; then
    [ "$(id -u)" = 0 ] || die "missing packages; run: sudo apt-get install ${need[*]}"
    echo "$me: installing ${need[*]}" >&2
    apt_install "${need[@]}" || { tail -n 30 "$tmp/apt.log" >&2; die "apt-get install ${need[*]} failed"; }
fi
busybox=$(command -v busybox)

# --- kernel + base initramfs, cached per kernel version ----------------------
cache=${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/push-pku-vm
mkdir -p "$cache"
# Guest modules to load (their dependencies are added from depends=).
root_mods="virtio_pci virtio_console 9pnet_virtio 9p overlay"

kernel_pkg() { # the package linux-image-amd64 points to, e.g. linux-image-6.1.0-57-amd64
    apt-cache depends linux-image-amd64 2>/dev/null |
        awk '/Depends: linux-image-[0-9]/ { print $2; exit }'
}

prepare_kernel() { # fills $cache/$kver/ and points $cache/current at it
    local pkg deb ver kdir kver off m out
    pkg=$(kernel_pkg)
    if [ -z "$pkg" ] && [ "$(id -u)" = 0 ]; then
        apt-get update -qq >&2 </dev/null || true
        pkg=$(kernel_pkg)
    fi
    [ -n "$pkg" ] || die "apt-cache cannot resolve linux-image-amd64 (run apt-get update?)"
    echo "$me: preparing the guest kernel from $pkg (once; cached in $cache)" >&2
    work=$(mktemp -d "$cache/prep.XXXXXX") # removed by cleanup
    (cd "$work" && apt-get download -q "$pkg" >download.log 2>&1) ||
        { cat "$work/download.log" >&2; die "apt-get download $pkg failed"; }
    deb=$(echo "$work"/*.deb)
    ver=$(dpkg-deb -f "$deb" Version)
    # Only the kernel and the modules' directories (/lib or /usr/lib).
    dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$work" --wildcards \
        './boot/vmlinuz-*' '*/modules/*/modules.builtin' \
        '*/modules/*/kernel/drivers/virtio/*' '*/modules/*/kernel/drivers/char/*' \
        '*/modules/*/kernel/net/9p/*' '*/modules/*/kernel/fs/*' ||
        die "unexpected layout of $deb"
    kdir=$(dirname "$(find "$work" -name modules.builtin | head -n1)")
    kver=${kdir##*/}
    # Uncompressed vmlinux from the bzImage's xz payload (as extract-vmlinux):
    # QEMU boots it through PVH, ~10 s faster than decompressing in the guest.
    is_elf() { [ "$(head -c 4 "$1" | od -An -c | tr -d ' ')" = '177ELF' ]; }
    while read -r off; do
        tail -c +$((off + 1)) "$work/boot/vmlinuz-$kver" |
            xz -dc --single-stream >"$work/vmlinux" 2>/dev/null || true
        is_elf "$work/vmlinux" && break
    done < <(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$work/boot/vmlinuz-$kver" | cut -d: -f1 || true)
    if ! is_elf "$work/vmlinux"; then
        echo "$me: no xz payload in vmlinuz-$kver; booting the bzImage (slower)" >&2
        cp "$work/boot/vmlinuz-$kver" "$work/vmlinux"
    fi

    # Base initramfs: static busybox and uncompressed modules, listed in load
    # order (dependencies first) in mods/order.
    local ird=$work/initramfs order=()
    mkdir -p "$ird"/{bin,mods,proc,sys,dev,lower,rw,newroot}
    cp "$busybox" "$ird/bin/busybox"
    add_mod() {
        local name=$1 f dep
        case " ${order[*]} " in *" $name "*) return 0 ;; esac
        f=$(find "$kdir/kernel" -name "$name.ko*" | head -n1)
        if [ -z "$f" ]; then
            grep -q "/$name\.ko" "$kdir/modules.builtin" && return 0 # built in
            die "kernel $kver has no module $name"
        fi
        case $f in
            *.ko) cp "$f" "$ird/mods/$name.ko" ;;
            *.ko.xz) xz -dc "$f" >"$ird/mods/$name.ko" ;;
            *.ko.gz) gzip -dc "$f" >"$ird/mods/$name.ko" ;;
            *.ko.zst) zstd -qdc "$f" >"$ird/mods/$name.ko" || die "need zstd to unpack $f" ;;
            *) die "unknown module format: $f" ;;
        esac
        for dep in $(tr '\0' '\n' <"$ird/mods/$name.ko" | sed -n 's/^depends=//p' | tr ',' ' '); do
            add_mod "$dep"
        done
        order+=("$name")
    }
    for m in $root_mods; do add_mod "$m"; done
    printf '%s\n' "${order[@]}" >"$ird/mods/order"
    (cd "$ird" && find . | LC_ALL=C sort | "$busybox" cpio -o -H newc 2>/dev/null) >"$work/base.cpio"

    out=$cache/${kver}_$ver
    mkdir -p "$work/out"
    mv "$work/vmlinux" "$work/base.cpio" "$work/out/"
    echo "$pkg $ver $kver" >"$work/out/version"
    rm -rf "$out" && mv -T "$work/out" "$out"
    echo "${out##*/}" >"$cache/current.tmp" && mv "$cache/current.tmp" "$cache/current"
    rm -rf "$work"; work=
}

kernel_ok() { [ -s "$1/version" ] && [ -s "$1/vmlinux" ] && [ -s "$1/base.cpio" ]; }
current_ok() { [ -s "$cache/current" ] && kernel_ok "$cache/$(cat "$cache/current")"; }
if [ "${PKU_VM_REFRESH:-0}" = 1 ] || ! current_ok; then
    exec 8>"$cache/lock" && flock 8 # one preparation at a time
    { [ "${PKU_VM_REFRESH:-0}" != 1 ] && current_ok; } || prepare_kernel
    exec 8>&-
    current_ok || die "kernel preparation failed"
fi
kdir=$cache/$(cat "$cache/current")

# --- the job: init + command, appended to the base initramfs as a 2nd cpio -----
q() { printf "'%s'" "${1//\'/\'\\\'\'}"; } # quote one word for sh
mkdir -p "$tmp/job/pku-vm"
{
    echo "cd $(q "$cwd") || exit 125"
    printf 'exec /usr/bin/env -i PUSH_PKU_VM=1'
    while IFS= read -r var; do
        printf ' %s' "$(q "$var=${!var}")"
    done < <(compgen -e | grep -E '^(PATH|HOME|USER|LOGNAME|LANG|LC_[A-Z]+|TZ|CI|PUSH_.*|CARGO_?.*|RUST.*)$' || true)
    printf " /bin/sh -c 'exec \"\$@\"' pku-vm" # so a CMD with '=' is not taken for a variable
    for a in "$@"; do printf ' %s' "$(q "$a")"; done
    echo
} >"$tmp/job/pku-vm/job.sh"
echo "$repo" >"$tmp/job/pku-vm/repo"
printf '%s\n' "$*" | head -c 200 | head -n1 >"$tmp/job/pku-vm/desc"
echo "$cpus" >"$tmp/job/pku-vm/cpus"

# The guest's PID 1 (busybox sh). Every path out of it powers the guest off.
cat >"$tmp/job/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in $(cat /mods/order); do insmod "/mods/$m.ko" || echo "pku-vm: insmod $m failed"; done
port() { # /dev node of the virtio-serial port named $1 (names arrive asynchronously)
    for i in $(seq 500); do
        for d in /sys/class/virtio-ports/*; do
            [ "$(cat "$d/name" 2>/dev/null)" = "$1" ] && [ -c "/dev/${d##*/}" ] &&
                { echo "/dev/${d##*/}"; return; }
        done
        usleep 10000
    done
    echo /dev/console
}
ctl=$(port pku-vm.ctl)
exec >"$(port pku-vm.out)" 2>"$(port pku-vm.err)" </dev/null
finish() { sync; echo "rc=$1" >"$ctl"; poweroff -f; }
fail() { echo "pku-vm: $*" >&2; finish 125; }

flags=$(grep -m1 '^flags' /proc/cpuinfo)
has() { case " $flags " in *" $1 "*) true ;; *) false ;; esac; }
has pku && has ospke || fail "guest CPU lacks pku/ospke (${flags#*: })"
echo "pku-vm: running '$(cat /pku-vm/desc)' in a QEMU TCG guest ($(cat /pku-vm/cpus) CPUs, Linux $(uname -r)); guest CPU has pku ospke" >&2

repo=$(cat /pku-vm/repo)
r=/newroot
o=trans=virtio,version=9p2000.L,msize=262144
mount -t 9p -o "$o,ro,cache=loose" hostroot /lower || fail "cannot mount the host / over 9p"
mount -t tmpfs -o mode=755 rw /rw && mkdir -p /rw/upper /rw/work &&
    mount -t overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work root $r ||
    fail "cannot mount the overlay root"
mount -t proc proc $r/proc && mount -t sysfs sys $r/sys && mount -t devtmpfs dev $r/dev &&
    mkdir -p $r/dev/pts $r/dev/shm && mount -t devpts -o newinstance,ptmxmode=0666 pts $r/dev/pts &&
    mount -t tmpfs -o mode=1777 shm $r/dev/shm && mount -t tmpfs -o mode=1777 tmp $r/tmp &&
    mount -t tmpfs -o mode=755 run $r/run && mkdir -p $r/run/pku-vm &&
    cp /pku-vm/job.sh $r/run/pku-vm/job.sh || fail "cannot set up the chroot"
# Last, so that a repository under /tmp (or /run) is not hidden by its tmpfs.
mkdir -p "$r$repo" && mount -t 9p -o "$o,cache=mmap" repo "$r$repo" ||
    fail "cannot mount $repo over 9p"
chroot $r /bin/sh /run/pku-vm/job.sh
finish $?
EOF
chmod +x "$tmp/job/init"
(cd "$tmp/job" && find . | LC_ALL=C sort | "$busybox" cpio -o -H newc 2>/dev/null) >"$tmp/job.cpio"
cat "$kdir/base.cpio" "$tmp/job.cpio" >"$tmp/initrd"

# --- output relays -------------------------------------------------------------
# QEMU writes the guest's stdout/stderr into FIFOs and cat copies them to our
# own fds (QEMU reopening /proc/self/fd/N would write regular files at the
# wrong offset, and cannot open sockets).
mkfifo "$tmp/out" "$tmp/err"
cat "$tmp/out" &
relays+=($!)
cat "$tmp/err" >&2 &
relays+=($!)

# --- boot ------------------------------------------------------------------------
# shellcheck disable=SC2054 # commas belong to QEMU options
# q35: virtio-pci uses MSI-X, avoiding ~1.5 s of ACPI IRQ-link setup of `pc`.
qemu=(qemu-system-x86_64 -accel tcg,thread=multi -cpu max -smp "$cpus" -m "$mem"
    -machine q35 -nodefaults -no-user-config -display none -vga none -no-reboot
    -kernel "$kdir/vmlinux" -initrd "$tmp/initrd"
    -append "console=ttyS0 quiet panic=-1 cryptomgr.notests rdinit=/init ${PKU_VM_APPEND:-}"
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
# Let the relays drain; open each FIFO once so a relay whose FIFO QEMU never
# opened sees EOF instead of blocking.
for f in "$tmp/out" "$tmp/err"; do exec 9<>"$f"; exec 9>&-; done
wait "${relays[@]}" 2>/dev/null || true
relays=()

[ -z "${PKU_VM_CONSOLE:-}" ] || cp "$tmp/console.log" "$PKU_VM_CONSOLE"
rc=$(sed -n 's/^rc=\([0-9][0-9]*\)$/\1/p' "$tmp/ctl" 2>/dev/null | tail -n1) || rc=
[ -z "$rc" ] || exit "$rc"
if [ -n "$timeout_s" ] && [ "$qrc" = 124 ]; then
    echo "$me: timed out after ${timeout_s}s; the guest was killed" >&2
    exit 124
fi
{
    echo "$me: the guest stopped (qemu status $qrc) without reporting the command's exit status"
    [ ! -s "$tmp/qemu.log" ] || { echo "--- qemu:"; tail -n 20 "$tmp/qemu.log"; }
    [ ! -s "$tmp/console.log" ] || { echo "--- guest console:"; tail -n 40 "$tmp/console.log"; }
} >&2
exit 125
