#!/usr/bin/env bash
# Install the pinned Go toolchain into PREFIX/go (default /usr/local/go), for
# the CPU of the machine it runs on. cibuildwheel runs it in each manylinux
# container (before-all), where there is no Go; the tarball is checked against
# its published SHA-256 before it is unpacked.
#
# usage: scripts/install_go.sh [PREFIX]
# env:   GO_VERSION (default below; keep it equal to GO_VERSION in
#        .github/workflows/*.yml), GO_DOWNLOAD_BASE (a mirror of dl.google.com/go)
set -euo pipefail

GO_VERSION="${GO_VERSION:-1.26.8}"
GO_DOWNLOAD_BASE="${GO_DOWNLOAD_BASE:-https://dl.google.com/go}"
prefix="${1:-/usr/local}"

case "$(uname -s)" in
Linux) goos=linux ;;
Darwin) goos=darwin ;;
*) echo "install_go.sh: unsupported OS $(uname -s)" >&2; exit 1 ;;
esac
case "$(uname -m)" in
x86_64 | amd64) goarch=amd64 ;;
aarch64 | arm64) goarch=arm64 ;;
*) echo "install_go.sh: unsupported CPU $(uname -m)" >&2; exit 1 ;;
esac

if [ -x "$prefix/go/bin/go" ] &&
	[ "$("$prefix/go/bin/go" env GOVERSION)" = "go$GO_VERSION" ]; then
	echo "install_go.sh: go$GO_VERSION already in $prefix/go"
	exit 0
fi

tarball="go$GO_VERSION.$goos-$goarch.tar.gz"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
echo "install_go.sh: $GO_DOWNLOAD_BASE/$tarball -> $prefix/go"
curl -fsSL --retry 3 -o "$tmp/$tarball" "$GO_DOWNLOAD_BASE/$tarball"
curl -fsSL --retry 3 -o "$tmp/$tarball.sha256" "$GO_DOWNLOAD_BASE/$tarball.sha256"
want="$(tr -d ' \n' <"$tmp/$tarball.sha256")"
if command -v sha256sum >/dev/null; then
	got="$(sha256sum "$tmp/$tarball" | cut -d' ' -f1)"
else
	got="$(shasum -a 256 "$tmp/$tarball" | cut -d' ' -f1)"
fi
if [ "$got" != "$want" ]; then
	echo "install_go.sh: checksum mismatch for $tarball: got $got, want $want" >&2
	exit 1
fi
mkdir -p "$prefix"
rm -rf "$prefix/go"
tar -C "$prefix" -xzf "$tmp/$tarball"
"$prefix/go/bin/go" version
