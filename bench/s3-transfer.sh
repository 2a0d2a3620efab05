#!/usr/bin/env bash
# Benchmarks guardianflow's S3 client (the `S3` module, through the small harness package in
# bench/s3-transfer/) against boto3's `upload_file` / `download_file` with their default
# TransferConfig, moving a SIZE_MIB file of random bytes (issue 5):
#
#   1. against moto (`moto_server`, signatures enforced as in Tests/TestSupport/S3TestServer.swift),
#      N rounds of: guardianflow upload, boto3 upload, guardianflow download, boto3 download
#      (downloads crossed: each client downloads the object the other uploaded);
#   2. the same against a null S3 endpoint (bench/null-s3.py: discards bodies, serves a pattern),
#      so that each client's own ceiling shows, moto being slow in itself;
#   3. guardianflow's peak RSS against the file size (SCALE_MIB sizes, null endpoint);
#   4. optionally (SWEEP), guardianflow with other part sizes and concurrencies.
#
# Each transfer is a fresh process under /usr/bin/time (wall time and peak RSS); each prints its
# in-process transfer time as JSON. Every download's SHA-256 is checked (guardianflow's inside the
# timed call: the script passes the expected digest with --sha256). Prints a markdown table and
# writes it, with the verdict on the targets, into BENCHMARKS.md (its own generated section only).
# The targets (issue 5, revised by the "Integrity" issue, item 10): uploads at least 1.2x boto3's
# throughput; downloads no slower than boto3 (1.0x) while verifying the SHA-256, which boto3 does
# not; guardianflow's peak RSS under 64 MB = 64 x 10^6 bytes whatever the file size.
#
#   bench/s3-transfer.sh                      N=3 rounds, SIZE_MIB=1024, SCALE_MIB="64 4096"
#   N=5 SIZE_MIB=2048 bench/s3-transfer.sh
#   SWEEP="16x8 32x8 64x4" SWEEP_ON="null moto" SWEEP_N=2 bench/s3-transfer.sh
#                                             part size (MiB) x concurrency settings to try too
#   GF_BUILD=0 bench/s3-transfer.sh           skip `swift build -c release --static-swift-stdlib --package-path bench/s3-transfer`
#   S3_TRANSFER=path, BENCHMARKS_MD=path      another harness binary; write the section elsewhere
#
# Needs the project venv (.venv with boto3 and moto[server]), a Swift toolchain (the harness is
# built first unless GF_BUILD=0) and GNU time. Disk: about 3 x SIZE_MIB (and the largest SCALE_MIB
# size twice) under TMPDIR. moto holds the objects on disk in the temp dir; each of its ranged GETs
# reads the whole object into memory, so keep a moto SWEEP's concurrency modest (<= 8 with 1 GiB).
# All traffic stays on 127.0.0.1. Each server runs in its own process group and is stopped as a
# group on exit, whatever happens; logs, each run's JSON and the raw rows are kept in
# bench/out/s3-transfer/. The shared pieces are in bench/lib.sh and bench/benchlib.py.
source "$(dirname "$0")/lib.sh"

N=${N:-3}
SIZE_MIB=${SIZE_MIB:-1024}
WARMUP_MIB=${WARMUP_MIB:-32}
SCALE_MIB=${SCALE_MIB-64 4096}
SWEEP=${SWEEP-}
SWEEP_ON=${SWEEP_ON:-null}
SWEEP_N=${SWEEP_N:-1}
GF_BUILD=${GF_BUILD:-1}
BUCKET=bench
helper=$bench/s3_transfer.py
null_s3=$bench/null-s3.py
pkg=$bench/s3-transfer
bin=${S3_TRANSFER:-$pkg/.build/release/s3-transfer}
md=${BENCHMARKS_MD:-$md}
out=$root/bench/out/s3-transfer

need_count N 1
need_count SIZE_MIB 1
need_count WARMUP_MIB 1
need_count SWEEP_N 1
for s in $SCALE_MIB; do [[ $s =~ ^[1-9][0-9]*$ ]] || die "SCALE_MIB must list sizes in MiB (got '$s')"; done
for c in $SWEEP; do [[ $c =~ ^[1-9][0-9]*x[1-9][0-9]*$ ]] || die "SWEEP must list PARTxCONCURRENCY settings such as 16x8 (got '$c')"; done
for s in $SWEEP_ON; do [[ $s == moto || $s == null ]] || die "SWEEP_ON must list moto and/or null (got '$s')"; done
need_venv moto_server
need_gnu_time
"$py" -c 'import boto3' 2>/dev/null || die "no boto3 in $root/.venv (run scripts/setup)"

bench_tmp s3-transfer
null_pgid=
s3_cleanup() { # bench_cleanup (the command still running, the moto server, $tmp), and the null server
  local status=$?
  if [ -n "$null_pgid" ]; then stop_group "$null_pgid" "null S3 server"; null_pgid=; fi
  (exit "$status")
  bench_cleanup
}
trap s3_cleanup EXIT

rm -rf "$out"
mkdir -p "$out/runs" "$tmp/moto"
if [ "$GF_BUILD" != 0 ] && [ -z "${S3_TRANSFER:-}" ]; then
  echo "==> swift build -c release --static-swift-stdlib --package-path ${pkg#"$root"/} (log: ${out#"$root"/}/build.log)" >&2
  # Linked as the shipped binary is (scripts/setup): the Swift runtime statically.
  swift build -c release --static-swift-stdlib --package-path "$pkg" >"$out/build.log" 2>&1 || { tail -n 30 "$out/build.log" >&2; die "the harness did not build"; }
fi
git -C "$root" diff HEAD -- Sources Package.swift >"$out/sources.diff" 2>/dev/null || true
[ -x "$bin" ] || die "no harness at ${bin#"$root"/} (swift build -c release --static-swift-stdlib --package-path bench/s3-transfer)"

scrub_env
# No AWS config or credentials files of the developer's, no instance metadata: both clients get the
# keys from the environment and nothing else.
export AWS_CONFIG_FILE=$tmp/no-aws-config AWS_SHARED_CREDENTIALS_FILE=$tmp/no-aws-credentials
export AWS_EC2_METADATA_DISABLED=true AWS_DEFAULT_REGION=us-east-1

mib=1048576
size=$((SIZE_MIB * mib))
src=$tmp/source.bin
echo "==> writing a $SIZE_MIB MiB file of random bytes" >&2
head -c "$size" /dev/urandom >"$src"
src_sha=$(sha256sum "$src" | cut -d' ' -f1)
head -c $((WARMUP_MIB * mib)) /dev/urandom >"$tmp/warmup.bin"
warm_sha=$(sha256sum "$tmp/warmup.bin" | cut -d' ' -f1)
sync

samples=$out/samples.tsv # measure_fresh's rows
printf '# tool\trun\twall_ms\tpeak_rss_kib\n' >"$samples"
rows=$out/transfers.tsv
printf '# phase\tserver\ttool\top\trun\tsize\tpart_mib\tconcurrency\twall_ms\trss_kib\tseconds\tcpu_seconds\tserver_cpu_s\tsha_ok\n' >"$rows"

clk_tck=$(getconf CLK_TCK)
proc_cpu() { # PID: its user + system CPU seconds so far
  sed 's/.*) //' "/proc/$1/stat" | awk -v t="$clk_tck" '{ printf "%.3f", ($12 + $13) / t }'
}
json_field() { # FILE NAME: a number or string field of a one-line JSON object
  sed -n "s/.*\"$2\": *\"\{0,1\}\([0-9a-f.]*\).*/\1/p" "$1"
}

# transfer PHASE SERVER TOOL OP RUN SIZE PART CONC KEY FILE EXPECTED_SHA: one timed fresh process;
# PART and CONC are "-" for the tool's defaults. Checks the SHA-256 of what was downloaded (and
# guardianflow's own digest), removes the download, syncs, and appends a row to $rows.
transfer() {
  local phase=$1 server=$2 tool=$3 op=$4 run=$5 bytes=$6 part=$7 conc=$8 key=$9 file=${10} want=${11}
  local tag="${phase}_${server}_${tool}_${op}_${part}x${conc}_$((bytes / mib))M_$run" flags=() endpoint pid c0 c1 json
  local wall rss seconds cpu got ok=- reported
  if [ "$server" = moto ]; then endpoint=$moto_endpoint; pid=$server_pgid; else endpoint=$null_endpoint; pid=$null_pgid; fi
  [ "$part" = - ] || flags+=(--part-size "$part")
  [ "$conc" = - ] || flags+=(--concurrency "$conc")
  json=$out/runs/$tag.json
  c0=$(proc_cpu "$pid")
  if [ "$tool" = gf ]; then
    [ "$op" != download ] || flags+=(--sha256 "$want")
    measure_fresh "$tag" "$run" "$json" "$bin" "$op" "$endpoint" "$BUCKET" "$key" "$file" "${flags[@]}"
  else
    measure_fresh "$tag" "$run" "$json" "$py" "$helper" boto3 "$op" "$endpoint" "$BUCKET" "$key" "$file"
  fi
  c1=$(proc_cpu "$pid")
  read -r _ _ wall rss < <(tail -n 1 "$samples")
  seconds=$(json_field "$json" seconds)
  cpu=$(json_field "$json" cpu_seconds)
  [ "$(json_field "$json" bytes)" = "$bytes" ] || die "$tag: moved $(json_field "$json" bytes) bytes, not $bytes"
  reported=$(json_field "$json" sha256)
  if [ "$op" = download ]; then
    got=$(sha256sum "$file" | cut -d' ' -f1)
    ok=yes
    [ "$got" = "$want" ] || ok=NO
    [ "$tool" != gf ] || [ "$reported" = "$got" ] || ok=NO
    rm -f "$file"
  elif [ "$tool" = gf ]; then
    ok=yes
    [ "$reported" = "$want" ] || ok=NO
  fi
  sync
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$phase" "$server" "$tool" "$op" "$run" "$bytes" \
    "${part/-/0}" "${conc/-/0}" "$wall" "$rss" "$seconds" "$cpu" "$(awk -v a="$c0" -v b="$c1" 'BEGIN { printf "%.3f", b - a }')" "$ok" >>"$rows"
  printf '    %-5s %-5s %-8s %-6s %s: %6.2f s wall, %6.2f s transfer, %5.0f MB/s, peak RSS %6.1f MiB, sha %s\n' \
    "$server" "$tool" "$op" "$part x $conc" "#$run" "$(awk -v w="$wall" 'BEGIN { print w / 1000 }')" "$seconds" \
    "$(awk -v b="$bytes" -v w="$wall" 'BEGIN { print b / 1e3 / w }')" "$(awk -v r="$rss" 'BEGIN { print r / 1024 }')" "$ok" >&2
  [ "$ok" != NO ] || die "$tag: the SHA-256 does not match (got ${got:-$reported}, expected $want); see $json"
}

# round PHASE SERVER RUN SIZE FILE FILE_SHA DOWNLOAD_SHA: the alternating four.
round() {
  local phase=$1 server=$2 run=$3 bytes=$4 file=$5 file_sha=$6 down_sha=$7
  transfer "$phase" "$server" gf upload "$run" "$bytes" - - gf-upload.bin "$file" "$file_sha"
  transfer "$phase" "$server" boto3 upload "$run" "$bytes" - - boto3-upload.bin "$file" "$file_sha"
  transfer "$phase" "$server" gf download "$run" "$bytes" - - boto3-upload.bin "$tmp/download.bin" "$down_sha"
  transfer "$phase" "$server" boto3 download "$run" "$bytes" - - gf-upload.bin "$tmp/download.bin" "$down_sha"
}

# sweep SERVER DOWNLOAD_SHA: guardianflow with each SWEEP setting, SWEEP_N times.
sweep() {
  local server=$1 down_sha=$2 setting part conc i
  for setting in $SWEEP; do
    part=${setting%x*} conc=${setting#*x}
    for i in $(seq "$SWEEP_N"); do
      transfer sweep "$server" gf upload "$i" "$size" "$part" "$conc" gf-sweep.bin "$src" "$src_sha"
      transfer sweep "$server" gf download "$i" "$size" "$part" "$conc" gf-sweep.bin "$tmp/download.bin" "$down_sha"
    done
  done
}

# timed_rounds ENDPOINT EXPECTED_DOWNLOAD_SHA: the N timed rounds on one endpoint, then its sweep
# when SWEEP_ON names it.
timed_rounds() {
  local endpoint=$1 expected=$2 i
  for i in $(seq "$N"); do
    round main "$endpoint" "$i" "$size" "$src" "$src_sha" "$expected"
  done
  if [[ " $SWEEP_ON " == *" $endpoint "* && -n $SWEEP ]]; then
    echo "==> $endpoint: guardianflow with SWEEP=\"$SWEEP\"" >&2
    sweep "$endpoint" "$expected"
  fi
}

load_before=$(loadavg)

# --- moto ---------------------------------------------------------------------------------------
port=$(free_port)
moto_endpoint=http://127.0.0.1:$port
echo "==> starting moto_server on $moto_endpoint (signatures enforced; log: ${out#"$root"/}/moto.log)" >&2
: >"$out/moto.log"
launch "$out/moto.log" env -C "$tmp/moto" INITIAL_NO_AUTH_ACTION_COUNT=3 MOTO_ALLOW_NONEXISTENT_REGION=true \
  TMPDIR="$tmp/moto" "$root/.venv/bin/moto_server" -H 127.0.0.1 -p "$port"
server_pgid=$launched
keys=$("$py" "$helper" moto-keys "$moto_endpoint" 60 2>>"$out/moto-setup.log") || { tail -n 20 "$out/moto-setup.log" "$out/moto.log" >&2; die "could not set up moto's IAM user"; }
read -r AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY <<<"$keys"
export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
"$py" "$helper" bucket "$moto_endpoint" "$BUCKET" 2>>"$out/moto-setup.log" || die "could not create the bucket on moto"


echo "==> moto: untimed round with a $WARMUP_MIB MiB file" >&2
round warmup moto 0 $((WARMUP_MIB * mib)) "$tmp/warmup.bin" "$warm_sha" "$warm_sha"
echo "==> moto: $N rounds of $SIZE_MIB MiB, alternating gf upload, boto3 upload, gf download, boto3 download" >&2
timed_rounds moto "$src_sha"
stop_server

# --- the null endpoint ---------------------------------------------------------------------------
echo "==> starting the null S3 endpoint (log: ${out#"$root"/}/null-s3.log)" >&2
: >"$out/null-s3.log"
launch "$out/null-s3.log" "$py" -u "$null_s3"
null_pgid=$launched
for _ in $(seq 100); do
  null_endpoint=$(sed -n 's/^listening on //p' "$out/null-s3.log")
  [ -z "$null_endpoint" ] || break
  sleep 0.1
done
[ -n "$null_endpoint" ] || { cat "$out/null-s3.log" >&2; die "the null S3 endpoint did not start"; }
export AWS_ACCESS_KEY_ID=null-key AWS_SECRET_ACCESS_KEY=null-secret
null_sha() { "$py" "$null_s3" --sha256 "$1"; }
echo "==> null endpoint ($null_endpoint): untimed round with a $WARMUP_MIB MiB file" >&2
round warmup null 0 $((WARMUP_MIB * mib)) "$tmp/warmup.bin" "$warm_sha" "$(null_sha $((WARMUP_MIB * mib)))"
echo "==> null endpoint: $N rounds of $SIZE_MIB MiB" >&2
pattern_sha=$(null_sha "$size")
timed_rounds null "$pattern_sha"
for s in $SCALE_MIB; do
  echo "==> null endpoint: guardianflow's peak RSS with a $s MiB file" >&2
  if [ "$s" = "$SIZE_MIB" ]; then f=$src f_sha=$src_sha; else
    f=$tmp/scale.bin
    head -c $((s * mib)) /dev/urandom >"$f"
    f_sha=$(sha256sum "$f" | cut -d' ' -f1)
    sync
  fi
  transfer scale null gf upload 1 $((s * mib)) - - gf-scale.bin "$f" "$f_sha"
  transfer scale null gf download 1 $((s * mib)) - - gf-scale.bin "$tmp/download.bin" "$(null_sha $((s * mib)))"
  rm -f "$tmp/scale.bin"
done
load_after=$(loadavg)
stop_group "$null_pgid" "null S3 server"
null_pgid=

# --- report ---------------------------------------------------------------------------------------
first=$(ls "$out"/runs/main_moto_gf_upload_-x-_*_1.json | head -n 1)
defaults="partSize $(( $(json_field "$first" part_size) / mib )) MiB, concurrency $(json_field "$first" concurrency), multipartThreshold $(( $(json_field "$first" multipart_threshold) / mib )) MiB"
gf=$bin
write_machine_meta "$tmp/meta.json" gf_defaults="${defaults:-?}" \
  n="$N" size="$size" warmup_mib="$WARMUP_MIB" sweep_n="$SWEEP_N" \
  invocation="N=$N SIZE_MIB=$SIZE_MIB WARMUP_MIB=$WARMUP_MIB SCALE_MIB=\"$SCALE_MIB\" SWEEP=\"$SWEEP\" SWEEP_ON=\"$SWEEP_ON\" SWEEP_N=$SWEEP_N" \
  --module boto3 --module botocore --module moto
echo >&2
cp "$tmp/meta.json" "$out/meta.json" # the report can be rebuilt from $out: s3_transfer.py report OUT MD OUT/meta.json
"$py" "$helper" report "$out" "$md" "$out/meta.json"
echo >&2
echo "==> wrote ${md#"$root"/}; raw rows in ${rows#"$root"/}" >&2
