# GridWorks: one image for every role (gridworks serve | worker | engine | db upgrade). Untested here (no Docker
# engine on our machines); the topology it serves is tested as plain processes in CI.
#
#   docker build -t gridworks .
#   docker run --env-file prod.env gridworks gridworks db upgrade      # once per release, before the roles
#   docker run --env-file prod.env -p 8080:8080 gridworks              # web (+ worker + engine candidate)

# -- build: wheels against the pinned constraints, then the intent model (deterministic, ~35 s) ------------
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY . .
RUN pip install -c constraints.txt . \
 && GRIDWORKS_INTENTS_MODEL_DIR=/opt/model gridworks intents train --model-dir /opt/model

# -- run: the venv and the model only; no compiler, no sources, not root -----------------------------------
FROM python:3.11-slim
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 \
    GRIDWORKS_INTENTS_MODEL_DIR=/opt/model GRIDWORKS_STATE_DIR=/var/lib/gridworks \
    GRIDWORKS_LOG_LEVEL=INFO GRIDWORKS_DRAIN_SECONDS=10 GRIDWORKS_METRICS_PORT=9464
RUN useradd --system --uid 10001 --home-dir /var/lib/gridworks --create-home gridworks
COPY --from=build /opt/venv /opt/venv
COPY --from=build /opt/model /opt/model
USER 10001
WORKDIR /var/lib/gridworks
EXPOSE 8080 9464
CMD ["gridworks", "serve", "--port", "8080"]
