#!/usr/bin/env bash
# Debian root filesystems in which the release wheels are built and checked
# (scripts/wheels.sh): made with debootstrap, cached outside the tree, entered
# with chroot in a private mount namespace. Roots of another CPU (arm64 on an
# x86_64 machine) run under qemu-user through binfmt_misc.
#
#   scripts/debian_root.sh ensure NAME...   make the roots that are missing or
#                                           out of date (see root_spec)
#   scripts/debian_root.sh run NAME [-b SRC:DST[:ro]]... [-O LOWER:UPPER:DST]...
#                              [-e VAR=VALUE]... -- CMD...
#                                           run CMD in NAME, SRC bound at DST;
#                                           with -O, DST shows LOWER under
#                                           UPPER (overlayfs): what CMD writes
#                                           there lands in UPPER, LOWER is
#                                           never changed (UPPER.work is
#                                           overlayfs's work directory)
#   scripts/debian_root.sh shell NAME       an interactive shell in NAME
#   scripts/debian_root.sh path NAME        the root's directory
#
# env: SKY_RS_ROOTS (default ${XDG_CACHE_HOME:-$HOME/.cache}/sky_rs/roots),
#      DEBIAN_MIRROR (default http://deb.debian.org/debian)
#
# Needs root (debootstrap, mount, chroot); installs debootstrap, and for
# foreign roots qemu-user-static and binfmt-support, with apt-get if missing.
# Inside a root: /proc, /sys and /dev of this machine, its resolv.conf and CA
# bundle (pip goes through the same proxies as here), HOME=/root, and only
# the environment variables named below.
set -euo pipefail

ROOTS="${SKY_RS_ROOTS:-${XDG_CACHE_HOME:-$HOME/.cache}/sky_rs/roots}"
DEBIAN_MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"

fail() {
	printf 'debian_root: %s\n' "$*" >&2
	exit 1
}

# root_spec NAME: "SUITE ARCH PACKAGE..." of each root the wheels use. Suites
# are pinned by name; sid is the one that moves (it has the newest CPythons).
root_spec() {
	case "$1" in
	# CPython 3.9 and its headers: the wheels are built here, and 3.9 checked.
	bullseye-amd64) echo "bullseye amd64 python3 python3-venv python3-dev" ;;
	bullseye-arm64) echo "bullseye arm64 python3 python3-venv python3-dev" ;;
	bookworm-amd64) echo "bookworm amd64 python3 python3-venv" ;; # 3.11
	trixie-amd64) echo "trixie amd64 python3 python3-venv" ;;     # 3.13
	sid-amd64) echo "sid amd64 python3.14 python3.14-venv python3.15 python3.15-venv" ;;
	sid-arm64) echo "sid arm64 python3.15 python3.15-venv" ;;
	*) return 1 ;;
	esac
}

root_dir() { printf '%s/%s' "$ROOTS" "$1"; }
STAMP=.sky_rs-root # in each root: the spec it was made from

host_arch() { dpkg --print-architecture 2>/dev/null || uname -m; }

# Install whatever debootstrap and a root of ARCH need on this machine.
host_tools() {
	local arch="$1" missing=()
	[ "$(id -u)" = 0 ] || fail "needs root (debootstrap, mount, chroot)"
	command -v debootstrap >/dev/null || missing+=(debootstrap)
	[ -e /usr/share/keyrings/debian-archive-keyring.gpg ] || missing+=(debian-archive-keyring)
	if [ "$arch" != "$(host_arch)" ]; then
		command -v update-binfmts >/dev/null || missing+=(binfmt-support)
		compgen -G "/usr/libexec/qemu-binfmt/*" >/dev/null ||
			command -v "qemu-$(qemu_cpu "$arch")-static" >/dev/null ||
			missing+=(qemu-user-static)
	fi
	if [ ${#missing[@]} -gt 0 ]; then
		command -v apt-get >/dev/null || fail "install ${missing[*]} (no apt-get here)"
		echo "debian_root: apt-get install ${missing[*]}" >&2
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			"${missing[@]}" >/dev/null
	fi
	[ "$arch" = "$(host_arch)" ] || foreign_cpu "$arch"
}

qemu_cpu() {
	case "$1" in
	arm64) echo aarch64 ;;
	*) echo "$1" ;;
	esac
}

# The CPU qemu-user emulates for ARCH, as QEMU_CPU=... (or nothing). For arm64
# a Neoverse N1 (AWS Graviton2): recent Debian binaries carry pointer
# authentication instructions, which qemu's default CPU emulates so slowly
# that CPython 3.15 runs 15 times slower; on a core without the feature they
# are no-ops, as on real hardware of that kind.
qemu_env() {
	case "$1" in
	arm64) echo QEMU_CPU=neoverse-n1 ;;
	esac
}

# Make executables of ARCH run here: binfmt_misc mounted, qemu's entry on.
foreign_cpu() {
	local cpu entry
	cpu="$(qemu_cpu "$1")"
	entry="/proc/sys/fs/binfmt_misc/qemu-$cpu"
	mountpoint -q /proc/sys/fs/binfmt_misc ||
		mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
	if ! grep -qx enabled "$entry" 2>/dev/null; then
		update-binfmts --enable "qemu-$cpu" >/dev/null 2>&1 ||
			update-binfmts --import "qemu-$cpu" >/dev/null 2>&1 || true
	fi
	grep -qx enabled "$entry" 2>/dev/null ||
		fail "cannot run $1 programs: no enabled $entry (qemu-user-static, binfmt-support)"
	# F: the interpreter is opened now, so it works inside a chroot too.
	grep -q '^flags:.*F' "$entry" ||
		fail "$entry lacks the F (fix binary) flag: qemu cannot run in a chroot"
}

cmd_ensure() {
	local name
	for name in "$@"; do ensure_one "$name"; done
}

ensure_one() {
	local name="$1" spec dir suite arch packages lock start qemu
	spec="$(root_spec "$name")" || fail "unknown root $name"
	read -r suite arch packages <<<"$spec"
	dir="$(root_dir "$name")"
	mkdir -p "$ROOTS"
	exec {lock}>"$ROOTS/.$name.lock"
	flock "$lock"
	if [ "$(cat "$dir/$STAMP" 2>/dev/null)" = "$spec" ]; then
		exec {lock}>&-
		return
	fi
	host_tools "$arch"
	start=$SECONDS
	echo "debian_root: making $name ($suite $arch: ${packages// /, }) in $dir" >&2
	rm -rf "$dir.new"
	qemu="$(qemu_env "$arch")"
	if ! env ${qemu:+"$qemu"} debootstrap --variant=minbase --arch="$arch" --include="${packages// /,}" \
		"$suite" "$dir.new" "$DEBIAN_MIRROR" >"$ROOTS/.$name.log" 2>&1; then
		tail -20 "$ROOTS/.$name.log" >&2
		rm -rf "$dir.new"
		fail "debootstrap of $name failed (log: $ROOTS/.$name.log)"
	fi
	rm -rf "$dir.new/var/cache/apt/archives/"*.deb
	printf '%s\n' "$spec" >"$dir.new/$STAMP"
	rm -rf "$dir"
	mv "$dir.new" "$dir"
	echo "debian_root: $name made in $((SECONDS - start)) s" >&2
	exec {lock}>&-
}

# What the commands in a root may see of this machine's environment: the
# proxies and package index settings, nothing else.
PASS_ENV=(http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY
	PIP_INDEX_URL PIP_EXTRA_INDEX_URL PIP_TRUSTED_HOST PIP_DEFAULT_TIMEOUT)

cmd_run() {
	local name="$1" dir arch qemu binds=() overlays=() envs=() var ca
	shift
	dir="$(root_dir "$name")"
	[ -f "$dir/$STAMP" ] || fail "no root $name (scripts/debian_root.sh ensure $name)"
	read -r _ arch _ <"$dir/$STAMP"
	if [ "$arch" != "$(host_arch)" ]; then
		foreign_cpu "$arch"
		qemu="$(qemu_env "$arch")"
		[ -z "$qemu" ] || envs+=("$qemu")
	fi
	while [ $# -gt 0 ]; do
		case "$1" in
		-b)
			binds+=("$2")
			shift 2
			;;
		-O)
			overlays+=("$2")
			shift 2
			;;
		-e)
			envs+=("$2")
			shift 2
			;;
		--)
			shift
			break
			;;
		*) fail "run: unexpected $1 (want -b, -O, -e or --)" ;;
		esac
	done
	[ $# -gt 0 ] || fail "run: no command"
	for var in "${PASS_ENV[@]}"; do
		[ -n "${!var:-}" ] && envs+=("$var=${!var}")
	done
	ca="${PIP_CERT:-${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}}"
	if [ -r "$ca" ]; then
		cp "$ca" "$dir/etc/sky_rs-host-ca.crt"
		envs+=(PIP_CERT=/etc/sky_rs-host-ca.crt SSL_CERT_FILE=/etc/sky_rs-host-ca.crt
			REQUESTS_CA_BUNDLE=/etc/sky_rs-host-ca.crt)
	fi
	cp /etc/resolv.conf "$dir/etc/resolv.conf"
	# A private mount namespace: the mounts vanish with the command, however
	# it ends. (The script is quoted: it expands in the namespace's bash.)
	# shellcheck disable=SC2016
	unshare --mount --propagation private -- bash -euo pipefail -c '
		dir=$1 nbinds=$2 noverlays=$3 nenvs=$4
		shift 4
		mount -t proc proc "$dir/proc"
		mount --rbind /sys "$dir/sys"
		mount --rbind /dev "$dir/dev"
		while [ "$nbinds" -gt 0 ]; do
			IFS=: read -r src dst mode <<<"$1"
			mkdir -p "$dir$dst"
			mount --bind "$src" "$dir$dst"
			[ "$mode" != ro ] || mount -o remount,bind,ro "$dir$dst"
			nbinds=$((nbinds - 1))
			shift
		done
		while [ "$noverlays" -gt 0 ]; do
			IFS=: read -r lower upper dst <<<"$1"
			mkdir -p "$upper" "$upper.work" "$dir$dst"
			mount -t overlay overlay \
				-o "lowerdir=$lower,upperdir=$upper,workdir=$upper.work" "$dir$dst"
			noverlays=$((noverlays - 1))
			shift
		done
		envs=()
		while [ "$nenvs" -gt 0 ]; do
			envs+=("$1")
			nenvs=$((nenvs - 1))
			shift
		done
		exec chroot "$dir" /usr/bin/env -i HOME=/root LANG=C.UTF-8 \
			PATH=/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin \
			"${envs[@]}" "$@"
	' _ "$dir" "${#binds[@]}" "${#overlays[@]}" "${#envs[@]}" "${binds[@]}" \
		"${overlays[@]}" "${envs[@]}" "$@"
}

main() {
	[ $# -gt 0 ] || fail "usage: $0 ensure|run|shell|path NAME ..."
	local cmd="$1"
	shift
	case "$cmd" in
	ensure) cmd_ensure "$@" ;;
	run) cmd_run "$@" ;;
	shell)
		cmd_ensure "$1"
		cmd_run "$1" -e "TERM=${TERM:-dumb}" -- /bin/bash -l
		;;
	path) root_dir "$1" ;;
	*) fail "unknown command $cmd (ensure, run, shell, path)" ;;
	esac
}

main "$@"
