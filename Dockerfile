# fleetmend's image: the worker (entrypoint), the starter CLI and the ECS
# simulator, built as static binaries and shipped on distroless as a non-root
# user. Used by docker-compose.yml; see deploy/README.md.
#
#   docker build -t fleetmend:local .
#   docker run --rm -e TEMPORAL_ADDRESS=... -e ALIBABA_CLOUD_ACCESS_KEY_ID=... fleetmend:local
#   docker run --rm --entrypoint starter fleetmend:local --help
#
# The builder's Go version is the `go` line of go.mod (deploy/compose_test.go
# checks that they agree). Plain Dockerfile syntax only, so the classic
# builder (docker-compose v1) and BuildKit both build it.

FROM golang:1.26.8-bookworm AS build

# Never fetch another toolchain: the image's Go is the one go.mod names.
ENV CGO_ENABLED=0 \
    GOTOOLCHAIN=local \
    GOFLAGS=-trimpath

WORKDIR /src

# Modules first, so editing source does not re-download them.
COPY go.mod go.sum ./
RUN go mod download

COPY . .
RUN go build -ldflags="-s -w" -o /out/ ./worker ./ecssim/cmd/ecssim ./starter

# Static binaries need no libc; the static image still carries CA
# certificates (HTTPS to Alibaba Cloud and Temporal Cloud) and tzdata.
FROM gcr.io/distroless/static-debian12:nonroot

LABEL org.opencontainers.image.title="fleetmend" \
      org.opencontainers.image.description="Temporal worker that keeps the Alibaba Cloud Assistant agent healthy on ECS instances"

COPY --from=build /out/worker /out/starter /out/ecssim /usr/local/bin/

# nonroot is uid/gid 65532 in distroless.
USER nonroot:nonroot

ENTRYPOINT ["/usr/local/bin/worker"]
