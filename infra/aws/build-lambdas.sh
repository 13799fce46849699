#!/usr/bin/env bash
# Builds every Lambda function named in infra/aws/template.yaml with cargo-lambda (release,
# arm64, zip) and prints each zip's size and the total build time.
#
#   pip install cargo-lambda            # brings zig, the cross linker
#   rustup target add aarch64-unknown-linux-gnu
#   infra/aws/build-lambdas.sh          # zips land in target/lambda/<function>/bootstrap.zip
#                                       # ($CARGO_TARGET_DIR/lambda/… when that is set)
#
# Exits non-zero if a build fails or a zip reaches the 10 MB budget. Not part of
# `cargo test --workspace`: a cold build takes tens of minutes on two cores.
set -euo pipefail
cd "$(dirname "$0")/../.."

budget_bytes=$((10 * 1000 * 1000))
target_dir="${CARGO_TARGET_DIR:-target}"
mapfile -t binaries < <(awk '/^ *Binary:/ {print $2}' infra/aws/template.yaml | sort -u)
if [ "${#binaries[@]}" -eq 0 ]; then
  echo "no Binary: entries found in infra/aws/template.yaml" >&2
  exit 1
fi

bin_flags=()
for binary in "${binaries[@]}"; do bin_flags+=(--bin "$binary"); done

started=$(date +%s)
cargo lambda build --release --arm64 --output-format zip "${bin_flags[@]}"
elapsed=$(( $(date +%s) - started ))

over=0
printf '%-20s %12s\n' function 'zip bytes'
for binary in "${binaries[@]}"; do
  zip="$target_dir/lambda/$binary/bootstrap.zip"
  size=$(stat -c %s "$zip")
  printf '%-20s %12s\n' "$binary" "$size"
  if [ "$size" -ge "$budget_bytes" ]; then
    echo "  over the 10 MB budget" >&2
    over=1
  fi
done
echo "built ${#binaries[@]} functions in ${elapsed} s"
exit "$over"
