# The stepscale image for users with a registry and a container builder
# (docker build, podman build, buildah bud). It makes the same image as
# .ci/image.sh, which builds it with no daemon and no registry (that is the
# path the tests check): a static `stepscale` binary (builtin rule components
# embedded), CA certificates and the tz database on `scratch`, running as uid
# 65532.
#
#   docker build -t registry.example.com/stepscale/stepscale:0.1.0 .
FROM docker.io/library/rust:1-bookworm AS build
RUN rustup target add wasm32-wasip2
WORKDIR /src
COPY . .
# glibc static-pie: no shared library is needed at run time.
RUN cargo rustc --release --locked -p stepscale-operator --bin stepscale -- -C target-feature=+crt-static \
 && strip target/release/stepscale \
 && printf 'nonroot:x:65532:65532:stepscale:/nonexistent:/nonexistent\n' > /tmp/passwd \
 && printf 'nonroot:x:65532:\n' > /tmp/group

FROM scratch
COPY --from=build --chmod=0444 /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /usr/share/zoneinfo /usr/share/zoneinfo
COPY --from=build --chmod=0444 /tmp/passwd /etc/passwd
COPY --from=build --chmod=0444 /tmp/group /etc/group
COPY --from=build --chmod=0555 /src/target/release/stepscale /stepscale
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
USER 65532:65532
ENTRYPOINT ["/stepscale"]
CMD ["operator"]
