#!/usr/bin/env bash
# Build the stepscale container image with no registry and no daemon, from the
# release build the tests already made (only the binary is relinked, static).
#
#   bash .ci/image.sh [OUTDIR]   (default target/image) prints
#   STEPSCALE_TEST_IMAGE=/abs/OUTDIR/oci:TAG for tests/cluster/image.rs
#
# The image: FROM scratch, one layer with /stepscale (static-pie, stripped,
# builtin rule components embedded), /etc/ssl/certs/ca-certificates.crt
# (Prometheus and LLM endpoints over TLS), /usr/share/zoneinfo (the IANA tz
# database of predictive schedules, without the posix/ and right/ copies) and
# /etc/passwd, /etc/group naming
# uid/gid 65532; config: user 65532:65532, entrypoint /stepscale, cmd
# operator; no shell. Also written as an OCI archive OUTDIR/stepscale-TAG.oci.tar
# for `skopeo copy oci-archive:...` into a registry (see the chart README).
# umoci and runc (to run the image in tests) come from Debian's packages.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-target/image}
TAG=${STEPSCALE_IMAGE_TAG:-$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)}

missing=()
command -v umoci >/dev/null || missing+=(umoci)
command -v runc >/dev/null || missing+=(runc)
[ -f /etc/ssl/certs/ca-certificates.crt ] || missing+=(ca-certificates)
[ -f /usr/share/zoneinfo/Europe/Berlin ] || missing+=(tzdata)
if [ ${#missing[@]} -gt 0 ]; then
    echo "image.sh: installing ${missing[*]}" >&2
    { DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" ||
      { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"; }; } >&2
fi

# The release build's dependencies are reused; only the binary is linked
# again, statically (glibc static-pie), so the image needs no libraries.
cargo rustc --release -p stepscale-operator --bin stepscale -- -C target-feature=+crt-static >&2

rm -rf "$OUT"
mkdir -p "$OUT"
umoci init --layout "$OUT/oci"
umoci new --image "$OUT/oci:$TAG"
umoci unpack --image "$OUT/oci:$TAG" "$OUT/bundle" >&2
root="$OUT/bundle/rootfs"
install -m 0555 target/release/stepscale "$root/stepscale"
strip "$root/stepscale"
install -d -m 0755 "$root/etc" "$root/etc/ssl" "$root/etc/ssl/certs"
install -m 0444 /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
install -d -m 0755 "$root/usr" "$root/usr/share" "$root/usr/share/zoneinfo"
tar -C /usr/share/zoneinfo --exclude=./posix --exclude=./right --exclude='*.tab' --exclude=./posixrules -cf - . |
    tar -C "$root/usr/share/zoneinfo" --no-same-owner -xf -
chmod -R go-w,a+rX "$root/usr/share/zoneinfo"
printf 'nonroot:x:65532:65532:stepscale:/nonexistent:/nonexistent\n' > "$root/etc/passwd"
printf 'nonroot:x:65532:\n' > "$root/etc/group"
chmod 0444 "$root/etc/passwd" "$root/etc/group"
umoci repack --image "$OUT/oci:$TAG" "$OUT/bundle"
umoci config --image "$OUT/oci:$TAG" \
    --config.user 65532:65532 \
    --config.entrypoint /stepscale \
    --config.cmd operator \
    --config.workingdir / \
    --config.env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    --config.label org.opencontainers.image.title=stepscale-autoscaler \
    --config.label "org.opencontainers.image.version=$TAG" \
    --config.label org.opencontainers.image.licenses=Apache-2.0
umoci gc --layout "$OUT/oci"
rm -rf "$OUT/bundle"
tar -C "$OUT/oci" -cf "$OUT/stepscale-$TAG.oci.tar" .
abs=$(cd "$OUT" && pwd)
echo "image.sh: $abs/oci:$TAG, archive $abs/stepscale-$TAG.oci.tar ($(du -b "$abs/stepscale-$TAG.oci.tar" | cut -f1) bytes)" >&2
echo "STEPSCALE_TEST_IMAGE=$abs/oci:$TAG"
