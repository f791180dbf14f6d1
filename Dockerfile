# syntax=docker/dockerfile:1
#
# Klaxon: a static binary on a distroless base, running as a non-root user.
#
#   docker build -t klaxon .
#   docker build --build-arg VERSION=1.2.3 --build-arg REVISION=$(git rev-parse HEAD) -t klaxon:1.2.3 .
#   docker run -p 9093:9093 -v $PWD/examples/klaxon.yml:/etc/klaxon/klaxon.yml:ro klaxon
#
# The image keeps its embedded SQLite store under /data (a volume); point
# KLAXON_DATABASE_URL at PostgreSQL instead for production and HA.

ARG GO_VERSION=1.26.8

FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
# Dependencies first, so that a source change does not download them again.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
ARG REVISION=unknown
ARG BRANCH=unknown
# CGO off: modernc.org/sqlite and pgx are pure Go, so the binary is static
# and runs on an image without libc.
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -o /out/klaxon \
      -ldflags "-s -w \
        -X github.com/prometheus/common/version.Version=${VERSION} \
        -X github.com/prometheus/common/version.Revision=${REVISION} \
        -X github.com/prometheus/common/version.Branch=${BRANCH} \
        -X github.com/prometheus/common/version.BuildUser=docker" \
      ./cmd/klaxon \
 && mkdir -p /out/data /out/etc/klaxon \
 && cp examples/klaxon.yml /out/etc/klaxon/klaxon.yml

# distroless/static: CA certificates, tzdata (for on-call schedules' time
# zones), /etc/passwd with the "nonroot" user (65532), and nothing else —
# no shell, no package manager.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/klaxon /usr/local/bin/klaxon
COPY --from=build --chown=65532:65532 /out/data /data
COPY --from=build /out/etc/klaxon /etc/klaxon
USER 65532:65532
WORKDIR /data
VOLUME ["/data"]
EXPOSE 9093
ENTRYPOINT ["/usr/local/bin/klaxon"]
CMD ["serve", "--config.file=/etc/klaxon/klaxon.yml", "--storage.path=/data"]
