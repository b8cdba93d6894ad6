# One image for every Auteur service (frontend, backend, controller, worker); `--target test`
# adds the test runner of docker-compose.test.yml (pytest, Playwright, Debian's Chromium).
#
# BASE is any Debian bookworm with a python3 that makes venvs: the official python:3.11-slim,
# or, where no registry answers, the one `make docker-up` builds from Debian packages
# (launcher/images.py). Python packages come as wheels the host built (.docker/wheels) and
# are installed with --no-index: nothing is fetched from inside the build but Debian packages.
ARG BASE=python:3.11-slim

FROM ${BASE} AS system
ENV DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8 PIP_DISABLE_PIP_VERSION_CHECK=1
# ffmpeg reaches Mesa's GPU drivers (and LLVM, ~160 MB) only through libavdevice's OpenGL
# output, which a poster or thumbnail job never opens: a stand-in package provides
# libgl1-mesa-dri so apt leaves them out, the way Debian's equivs does.
RUN mkdir -p /tmp/no-gl/DEBIAN \
 && printf '%s\n' 'Package: auteur-no-gl-drivers' 'Version: 1.0' 'Architecture: all' 'Maintainer: Auteur' \
      'Provides: libgl1-mesa-dri' 'Description: stands in for the Mesa DRI drivers (no GPU rendering here)' \
      > /tmp/no-gl/DEBIAN/control \
 && dpkg-deb --build /tmp/no-gl /tmp/no-gl.deb >/dev/null && dpkg -i /tmp/no-gl.deb && rm -rf /tmp/no-gl /tmp/no-gl.deb \
 && apt-get update \
 && apt-get install -y --no-install-recommends git git-lfs ffmpeg \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin \
 && useradd --uid 10001 --user-group --create-home --home-dir /home/auteur --shell /usr/sbin/nologin auteur \
 && mkdir -p /workspace /specs \
 && chown auteur:auteur /workspace /specs

FROM system AS deps
COPY .docker/wheels /wheels
RUN python3 -m venv /opt/auteur \
 && /opt/auteur/bin/pip install --no-index --no-cache-dir --find-links /wheels -r /wheels/requirements.txt \
 && /opt/auteur/bin/pip uninstall -q -y pip setuptools

FROM system AS app
COPY --from=deps /opt/auteur /opt/auteur
WORKDIR /app
COPY auteur ./auteur
COPY redisbackend ./redisbackend
COPY controller ./controller
COPY api ./api
COPY worker ./worker
COPY web ./web
COPY launcher ./launcher
COPY scripts ./scripts
COPY pyproject.toml ./
RUN /opt/auteur/bin/python -m compileall -q auteur redisbackend controller api worker web launcher
# The services run as uid 10001; the entrypoint starts as root only to hand the mounted
# /workspace and /specs folders to that user, then becomes it (scripts/container-entrypoint.sh).
ENV PATH=/opt/auteur/bin:$PATH \
    PYTHONPATH=/app \
    PYTHONUNBUFFERED=1 \
    HOME=/home/auteur \
    AUTEUR_WORKSPACE=/workspace \
    AUTEUR_SPECS=/specs
ENTRYPOINT ["/app/scripts/container-entrypoint.sh"]
CMD ["python", "-m", "api"]

FROM system AS test-deps
COPY .docker/wheels /wheels
RUN python3 -m venv /opt/auteur \
 && /opt/auteur/bin/pip install --no-index --no-cache-dir --find-links /wheels -r /wheels/requirements-dev.txt

FROM app AS test
RUN apt-get update \
 && apt-get install -y --no-install-recommends chromium fonts-dejavu-core libatomic1 \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin
COPY --from=test-deps /opt/auteur /opt/auteur
COPY tests ./tests
