# shellcheck shell=bash
# benches/common.sh - the preamble the benchmark scripts share; sourced, never run.
#
# `bench_init NAME "$@"` sets root (the checkout), work (target/bench/NAME), bp (the release
# binary), runs (from --runs N, default 3), puts cargo on PATH, and refuses to go on without
# root (loop devices, drop_caches). `die MESSAGE` ends the script with NAME.sh's error.

# The variables are the caller's.
# shellcheck disable=SC2034
bench_init() {
    bench=$1
    shift
    root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
    export PATH="$HOME/.cargo/bin:$PATH"
    work=$root/target/bench/$bench
    bp=$root/target/release/blockprint
    runs=3
    while (($#)); do
        case $1 in
            --runs) runs=${2:?--runs needs a number}; shift 2 ;;
            *) die "unknown option $1 (see the header of benches/$bench.sh)" ;;
        esac
    done
    ((EUID == 0)) || die "needs root (loop devices, drop_caches)"
}

die() {
    echo "${bench:-bench}.sh: error: $*" >&2
    exit 1
}
