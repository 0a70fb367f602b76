# GridWorks: one image for every role (gridworks serve | worker | engine). Untested here (no Docker engine on
# our machines); the topology it serves is tested as plain processes in CI.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot bot
COPY intents intents
COPY handlers handlers
COPY engine engine
COPY locales locales
COPY config config
RUN pip install --no-cache-dir . \
 && GRIDWORKS_INTENTS_MODEL_DIR=/opt/gridworks/model gridworks intents train \
 && useradd --system --home /var/lib/gridworks --create-home gridworks
ENV GRIDWORKS_INTENTS_MODEL_DIR=/opt/gridworks/model GRIDWORKS_STATE_DIR=/var/lib/gridworks
USER gridworks
EXPOSE 8080
CMD ["gridworks", "serve", "--port", "8080"]
