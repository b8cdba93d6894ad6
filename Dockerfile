# One image for every Auteur service (frontend, backend, controller, worker).
# `--build-arg EXTRAS=dev` adds the test tools (docker-compose.test.yml does).
FROM python:3.11-slim

RUN apt-get update \
 && apt-get install -y --no-install-recommends git git-lfs ffmpeg \
 && rm -rf /var/lib/apt/lists/*

RUN useradd --create-home --uid 10001 auteur
WORKDIR /app
COPY pyproject.toml README.md ./
COPY auteur ./auteur
COPY controller ./controller
COPY api ./api
COPY worker ./worker
COPY web ./web
COPY launcher ./launcher
COPY scripts ./scripts
ARG EXTRAS=""
RUN pip install --no-cache-dir ".${EXTRAS:+[$EXTRAS]}" \
 && mkdir -p /workspace /specs \
 && chown auteur:auteur /workspace /specs

USER auteur
ENV AUTEUR_WORKSPACE=/workspace \
    AUTEUR_SPECS=/specs \
    PYTHONUNBUFFERED=1
