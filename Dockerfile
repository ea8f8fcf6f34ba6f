# mr-storage-initializer: KServe storage initializer for model-registry:// URIs.
# Build: make image (needs a container engine). The final stage holds a venv and nothing to build with.

FROM python:3.11-slim-bookworm AS builder
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python -m venv /opt/venv
COPY pyproject.toml requirements.lock README.md ./
COPY src ./src
# Runtime dependencies only (with the signing extra: docs/signing.md), pinned by the lock file (a pip constraints file).
RUN /opt/venv/bin/pip install --no-cache-dir -c requirements.lock ".[signing]" \
    && /opt/venv/bin/python -m compileall -q /opt/venv/lib \
    && find /opt/venv -name '*.pyi' -delete

FROM python:3.11-slim-bookworm
LABEL org.opencontainers.image.title="mr-storage-initializer" \
      org.opencontainers.image.description="KServe custom storage initializer for Kubeflow Model Registry model-registry:// URIs" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
COPY --from=builder /opt/venv /opt/venv
# The venv's own package is the only thing that differs between builds; drop the embedded registry
# from the runtime image (the initializer never imports it).
RUN rm -rf /opt/venv/lib/python3.11/site-packages/model_registry_lite /opt/venv/bin/mr-registry-lite
USER 65532:65532
WORKDIR /tmp
ENTRYPOINT ["mr-storage-initializer"]
