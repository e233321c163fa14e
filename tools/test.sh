#!/usr/bin/env bash
# Install what giftwrap's tests need, then run the whole suite with tox.
# Runs unattended (CI: root, no stdin). Usage: tools/test.sh [tox envs]
set -euo pipefail
cd "$(dirname "$0")/.."

# System packages: the real tools the functional tests drive.
apt_packages=(git dpkg-dev apt-utils rpm rpmlint lintian podman buildah debootstrap
              binutils patch gnupg gpgv createrepo-c uidmap python3
              python3-venv python3-dev build-essential libyaml-dev
              docker-registry python3-apt python3-yaml ca-certificates
              iproute2 util-linux openssl)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' \
    || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    --no-install-recommends "${missing[@]}" >/dev/null
fi

# podman and buildah share one image store; vfs works without fuse or
# overlay support, as on CI machines.
if [ "$(id -u)" = 0 ] && ! grep -qs '^driver *= *"vfs"' /etc/containers/storage.conf; then
  mkdir -p /etc/containers
  cat > /etc/containers/storage.conf <<'CONF'
[storage]
driver = "vfs"
runroot = "/run/containers/storage"
graphroot = "/var/lib/containers/storage"
CONF
fi

python3 -m pip install -q --disable-pip-version-check 'tox>=4' 2>&1 \
  | grep -v 'Running pip as the' || true

envs=${1:-pep8,py3,minimums,functional,docs,releasenotes}
rm -f .tox/*/log/junit.xml
status=0
python3 -m tox -q -e "$envs" || status=$?

# One closing line over every env's pytest results; a skip that
# tools/allowed-skips.txt does not list fails the run.
python3 tools/junit_summary.py --allowed tools/allowed-skips.txt \
  .tox/*/log/junit.xml || status=1
exit $status
