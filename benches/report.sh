# benches/report.sh - the table and the targets of benches/bench.sh, which sources this file
# after its runs (it reads wall, cpu, rss, limit, mapped, runs and quick from there).

div() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }

row() {  # row CASE CONTENDER LABEL
    local key="$1 $2" base=${wall["$1 bmaptool"]:-} lim=${limit[$1]:-}
    printf '%-10s %-34s %7s %8s %7s %5s%% %7s %7s %7s\n' "$1" "$3" "${wall[$key]}" \
        "$(div "$((mapped / 1000000))" "${wall[$key]}")" "${cpu[$key]}" \
        "$(awk -v c="${cpu[$key]}" -v w="${wall[$key]}" 'BEGIN { printf "%.0f", (w > 0 ? c / w * 100 : 0) }')" \
        "$((${rss[$key]} / 1024))" "$(div "${wall[$key]}" "$base")" "$(div "${wall[$key]}" "$lim")"
}

echo
echo "=== median of $runs run(s); data MB/s = mapped bytes / wall; ratio = time / bmaptool's;"
echo "=== x limit = time / the slowest stage alone (decode, hash, write) ==="
printf '%-10s %-34s %7s %8s %7s %6s %7s %7s %7s\n' case contender "wall s" "data MB/s" "CPU s" "CPU" \
    "RSS MB" ratio "x limit"
for dest in file loop; do
    for src in img xz gz zst; do
        c="$src $dest"
        [[ -n ${wall["$c blockprint"]:-} ]] || continue
        row "$c" blockprint "blockprint copy"
        [[ -n ${wall["$c blockprint readback"]:-} ]] && row "$c" "blockprint readback" "blockprint copy --verify-readback"
        row "$c" bmaptool "bmaptool copy"
        row "$c" dd "$([[ $src == img ]] && echo "dd" || echo "${decompress[$src]%% *} -dc | dd") (whole image)"
        printf '%-10s %-34s %7s\n' "$c" "limit (slowest stage)" "${limit[$c]}"
    done
done

for src in img xz; do
    c="$src fanout"
    [[ -n ${wall["$c blockprint"]:-} ]] || continue
    # The ratio column here is against the same image to one loop device, in this run.
    printf '%-10s %-34s %7s %8s %7s %5s%% %7s %7s %7s\n' "$c" "blockprint copy, 4 loop devices" \
        "${wall["$c blockprint"]}" "$(div "$((4 * mapped / 1000000))" "${wall["$c blockprint"]}")" \
        "${cpu["$c blockprint"]}" \
        "$(awk -v c="${cpu["$c blockprint"]}" -v w="${wall["$c blockprint"]}" 'BEGIN { printf "%.0f", c / w * 100 }')" \
        "$((${rss["$c blockprint"]} / 1024))" "$(div "${wall["$c blockprint"]}" "${wall["$src loop blockprint"]}")" \
        "$(div "${wall["$c blockprint"]}" "${limit[$c]}")"
    printf '%-10s %-34s %7s\n' "$c" "limit (slowest stage)" "${limit[$c]}"
done

if [[ -n ${wall["create blockprint"]:-} ]]; then
    row create blockprint "blockprint create"
    row create bmaptool "bmaptool create"
    printf '%-10s %-34s %7s\n' create "limit (slowest stage)" "${limit[create]}"
fi
echo
echo "stage limits alone (s): hash $hash_time; write: loop $write_loop, file $write_file," \
    "4 loops at once ${write_fanout:--}; read loop $read_loop; raw image read and written at once: loop" \
    "$together_loop, file $together_file;" \
    "decode: img ${wall["limit: decode img"]:--}, xz ${wall["limit: decode xz"]:--}," \
    "gz ${wall["limit: decode gz"]:--}, zst ${wall["limit: decode zst"]:--}"

# The issue's targets: name, case, the most time / bmaptool's, the most time / limit.
check() {
    local ratio at_limit verdict=met
    [[ -n ${wall["$2 blockprint"]:-} ]] || return 0
    ratio=$(div "${wall["$2 blockprint"]}" "${wall["$2 bmaptool"]}")
    at_limit=$(div "${wall["$2 blockprint"]}" "${limit[$2]}")
    if awk -v r="$ratio" -v m="$3" -v l="$at_limit" -v n="$4" 'BEGIN { exit !(r > m || l > n) }'; then
        verdict=MISSED
        missed=$((missed + 1))
    fi
    printf '%-24s %5s x bmaptool (target <= %s), %5s x limit (target <= %s): %s\n' \
        "$1" "$ratio" "$3" "$at_limit" "$4" "$verdict"
}
if ((quick)); then
    echo "quick mode: the harness ran and every copy verified; the timings mean nothing"
else
    missed=0
    echo
    check ".xz -> loop device" "xz loop" 0.6 1.25
    check "raw -> file" "img file" 0.8 1.25
    check "create" create 0.5 1.25
    if [[ -n ${wall["img loop blockprint readback"]:-} ]]; then
        extra=$(awk -v a="${wall["img loop blockprint readback"]}" -v b="${wall["img loop blockprint"]}" \
            'BEGIN { printf "%.2f", a - b }')
        verdict=met
        awk -v e="$extra" -v r="$read_loop" 'BEGIN { exit !(e > 1.15 * r) }' && verdict=MISSED
        [[ $verdict == met ]] || missed=$((missed + 1))
        printf '%-24s %5s s more, %5s x reading the mapped bytes from the loop device (%s s; target <= 1.15): %s\n' \
            "read-back" "$extra" "$(div "$extra" "$read_loop")" "$read_loop" "$verdict"
    fi
    for src in img xz; do
        [[ -n ${wall["$src fanout blockprint"]:-} ]] || continue
        printf '%-24s %5s x the time to one loop device (four drives written one after another: 4)\n' \
            "$src -> 4 loop devices" "$(div "${wall["$src fanout blockprint"]}" "${wall["$src loop blockprint"]}")"
    done
    ((missed == 0)) && echo "all targets met" || echo "$missed target(s) missed"
fi
