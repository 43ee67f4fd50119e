# The suite image for tier-2 tests: the project installed offline from wheels built on the host.
# BASE is a local image imported from a debootstrap'd Debian rootfs (no registry is reachable).
# Build with the legacy builder: DOCKER_BUILDKIT=0 docker build --build-arg BASE=... .
ARG BASE=killswitch-base:bookworm
FROM ${BASE}

ENV LANG=C.UTF-8 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/killswitch/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

COPY wheels/ /tmp/wheels/
# --no-index: every dependency must come from the wheels next to this file, never a registry.
RUN python3 -m venv /opt/killswitch \
 && /opt/killswitch/bin/pip install --no-cache-dir --no-index --find-links /tmp/wheels killswitch-suite \
 && rm -rf /tmp/wheels \
 && useradd --system --uid 10001 --user-group --create-home --home-dir /var/lib/killswitch killswitch

# A fixed uid: the tests hand per-test key files (mode 0600) to exactly this owner.
USER killswitch
WORKDIR /var/lib/killswitch
CMD ["python3", "-c", "import risk, watchdog, trader, exchange_sim; print('killswitch suite image')"]
