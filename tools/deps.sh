#!/bin/sh
# Installs the Debian packages petrel needs to build, test or benchmark,
# when they are missing. Usage: tools/deps.sh build|check|bench
# As root it also creates the system users petrel drops privileges to.
set -eu
what=${1:-build}
pkgs="gcc make cmake pkg-config libssl-dev libevent-dev libcrypt-dev libargon2-dev
    libunbound-dev libcurl4-openssl-dev zlib1g-dev dns-root-data ca-certificates
    openssl"
case "$what" in
check) pkgs="$pkgs libcmocka-dev python3-pytest swaks nsd ldnsutils
    bind9-dnsutils unbound-host postfix iproute2" ;;
fuzz) pkgs="$pkgs clang libclang-rt-14-dev" ;;
bench) pkgs="$pkgs postfix" ;;
esac
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
	    missing="$missing $p"
done
if [ -n "$missing" ]; then
	echo "deps: installing$missing" >&2
	SUDO=""
	[ "$(id -u)" = 0 ] || SUDO="sudo"
	export DEBIAN_FRONTEND=noninteractive
	$SUDO apt-get update -qq >&2
	# postfix must not start a daemon on port 25 behind our back.
	if echo "$missing" | grep -q postfix; then
		echo "postfix postfix/main_mailer_type select No configuration" |
		    $SUDO debconf-set-selections
	fi
	$SUDO apt-get install -y -qq --no-install-recommends $missing >&2
	# Installing nsd starts a system instance on port 53; the tests run
	# their own.
	if echo "$missing" | grep -q nsd; then
		$SUDO systemctl disable --now nsd >/dev/null 2>&1 ||
		    $SUDO pkill -x nsd || true
	fi
fi
# System users for privilege separation (only meaningful as root).
if [ "$(id -u)" = 0 ]; then
	for u in petrel petrel-queue petrel-mail petrel-auth petrel-remote; do
		getent passwd "$u" >/dev/null ||
		    useradd --system --no-create-home --home-dir /nonexistent \
			--shell /usr/sbin/nologin "$u"
	done
fi
