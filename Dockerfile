# Kasagi node: the same install and start as on a developer machine (`make run`).
# Roles for scale-out are chosen with `kasagi up` options (see docs/scaling.md when present).
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
EXPOSE 8080
CMD ["make", "run", "DATA_DIR=/data", "PORT=8080"]
