# shipctl with the programs its primitives run: helm, kubectl and the PostgreSQL client
# tools (pg_dump, pg_restore, psql). Build: docker build -t shipctl .
# Use: docker run --rm -v "$PWD:/work" -w /work shipctl plan scripts/app/release.rhai

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin shipctl \
 && install -m 0755 target/release/shipctl /usr/local/bin/shipctl

FROM debian:bookworm-slim AS tools
ARG HELM_VERSION=v3.19.0
ARG KUBECTL_VERSION=v1.33.5
ARG TARGETARCH=amd64
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /tmp/tools
# Each download is checked against the checksum its publisher serves beside it.
RUN curl -fsSLO "https://get.helm.sh/helm-${HELM_VERSION}-linux-${TARGETARCH}.tar.gz" \
 && curl -fsSL "https://get.helm.sh/helm-${HELM_VERSION}-linux-${TARGETARCH}.tar.gz.sha256sum" | sha256sum -c - \
 && tar -xzf "helm-${HELM_VERSION}-linux-${TARGETARCH}.tar.gz" \
 && install -m 0755 "linux-${TARGETARCH}/helm" /usr/local/bin/helm \
 && curl -fsSLO "https://dl.k8s.io/release/${KUBECTL_VERSION}/bin/linux/${TARGETARCH}/kubectl" \
 && echo "$(curl -fsSL "https://dl.k8s.io/release/${KUBECTL_VERSION}/bin/linux/${TARGETARCH}/kubectl.sha256")  kubectl" | sha256sum -c - \
 && install -m 0755 kubectl /usr/local/bin/kubectl

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates postgresql-client \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --uid 10001 --user-group shipctl
COPY --from=tools /usr/local/bin/helm /usr/local/bin/kubectl /usr/local/bin/
COPY --from=build /usr/local/bin/shipctl /usr/local/bin/shipctl
USER shipctl
WORKDIR /home/shipctl
ENTRYPOINT ["shipctl"]
CMD ["--help"]
