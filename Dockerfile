# Kasagi node: the same install and start as on a developer machine (`make run`).
# The same image serves every role: the default command runs a single node; docker-compose.yml
# runs routers (`kasagi up --role router`) and workers (`kasagi up --role worker`) from it.
FROM python:3.11-slim-bookworm

RUN apt-get update \
 && apt-get install -y --no-install-recommends make gcc g++ libc6-dev nodejs npm \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY . /app
# Build the venv from requirements.lock exactly as `make run` / `make test` do.
RUN make venv js PYTHON=python3.11

ENV PYTHONUNBUFFERED=1
VOLUME ["/data"]
# 8080: clients (WebSocket /ws); 8081: workers (rawsocket, --backend-port); 9100: /metrics, /health
EXPOSE 8080 8081 9100
# Every interface of the container (a dev-mode node listens on 127.0.0.1 unless told).
CMD ["make", "run", "DATA_DIR=/data", "PORT=8080", "HOST=0.0.0.0"]
