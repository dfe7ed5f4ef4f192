# One image for every Certplane service. The command picks what runs:
#   docker run IMAGE                  -> `certplane run`: every service in one process (embedded mode)
#   Kubernetes: args ["run", "orgs"]  -> one service, distributed mode (AMQP_URI and CERTPLANE_DATABASE_URL set)
# See deploy/k8s/README.md.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

# A fixed numeric uid/gid so Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
RUN groupadd --system --gid 10001 certplane \
 && useradd --system --uid 10001 --gid certplane --no-create-home --home-dir /nonexistent \
            --shell /usr/sbin/nologin certplane

# Only what `pip install .` needs (pyproject.toml and the three packages); no tests, no dev/test extras.
# Every runtime dependency ships manylinux wheels for Python 3.11, so no compiler is installed.
WORKDIR /src
COPY pyproject.toml ./
COPY contracts ./contracts
COPY gateway ./gateway
COPY services ./services
RUN pip install . && rm -rf /src

# Embedded mode keeps its SQLite files here; distributed mode (Kubernetes) writes nothing to disk.
RUN mkdir -p /var/lib/certplane && chown certplane:certplane /var/lib/certplane
ENV CERTPLANE_VAR_DIR=/var/lib/certplane \
    CERTPLANE_HTTP_HOST=0.0.0.0

WORKDIR /var/lib/certplane
USER 10001:10001

# 8080: the gateway's HTTP (CERTPLANE_HTTP_PORT); 8081: /healthz and /readyz of a process without the
# gateway (CERTPLANE_HEALTH_PORT).
EXPOSE 8080 8081

ENTRYPOINT ["certplane"]
CMD ["run"]
