#!/usr/bin/env bash
# deps.sh - install the Debian 12 packages Coachwire builds and runs with, when missing.
# Sourced by demo.sh and check.sh: defines cw_install_deps.
CW_PACKAGES=(build-essential cmake pkg-config libzmq3-dev libprotobuf-c-dev protobuf-c-compiler
             libsodium-dev libcmocka-dev libsqlite3-dev sqlite3 clang libclang-rt-14-dev tzdata
             python3)

cw_install_deps () {
    local missing=()
    for p in "${CW_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
            || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        echo "coachwire: missing packages: ${missing[*]}" >&2
        echo "coachwire: run as root, or: sudo apt-get install ${missing[*]}" >&2
        return 1
    fi
    echo "coachwire: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2 && apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}
