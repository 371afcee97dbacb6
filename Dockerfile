# syntax=docker/dockerfile:1
#
# The remediator's image: `remediator serve` by default, `remediator watch`
# for the CronJob (k8s/base/). Build and run:
#
#   docker build -t remediator:0.1.0 .
#   docker run --rm -p 8080:8080 remediator:0.1.0
#
# tests/deploy/test_image.py runs this builder stage's RUN lines in a virtual
# environment and checks the final stage's security properties; keep each
# RUN a plain shell command that names paths through the ENV variables.

# One pinned base for both stages: the virtual environment built in the
# first is copied into the second, and its interpreter links must resolve.
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/remediator
WORKDIR /src
RUN python -m venv "$VIRTUAL_ENV"
COPY pyproject.toml README.md ./
COPY remediator ./remediator
# Every dependency ships wheels, so no compiler is needed here either. pip's
# cache lives in a build cache mount, never in a layer.
RUN --mount=type=cache,target=/root/.cache/pip \
    "$VIRTUAL_ENV/bin/pip" install .

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="remediator" \
      org.opencontainers.image.description="Turns LLM-serving benchmark results and Alertmanager alerts into safe Kubernetes remediation." \
      org.opencontainers.image.licenses="MIT"
ENV PATH=/opt/remediator/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
# A fixed numeric user, so Kubernetes can verify runAsNonRoot; the state
# directory is its home and the only place the image writes to.
RUN groupadd --system --gid 10001 remediator \
    && useradd --system --uid 10001 --gid 10001 --no-create-home \
        --home-dir /var/lib/remediator --shell /usr/sbin/nologin remediator \
    && install -d -o 10001 -g 10001 -m 0750 /var/lib/remediator
COPY --from=builder /opt/remediator /opt/remediator
USER 10001:10001
WORKDIR /var/lib/remediator
VOLUME ["/var/lib/remediator"]
EXPOSE 8080
ENTRYPOINT ["remediator"]
# Listen on all interfaces: inside a container loopback is unreachable.
# Relative state and results paths of the defaults land in the volume.
CMD ["serve", "--listen", "0.0.0.0:8080"]
