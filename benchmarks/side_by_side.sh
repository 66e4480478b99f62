#!/usr/bin/env bash
# Run each argument as a shell command at the same time, one per core, and
# wait for all of them. Exits 1 if any of them failed, after naming it.
set -u
commands=("$@")
pids=()
for command in "${commands[@]}"; do
    bash -c "$command" &
    pids+=("$!")
done
status=0
for index in "${!pids[@]}"; do
    if ! wait "${pids[$index]}"; then
        echo "side_by_side.sh: failed: ${commands[$index]}" >&2
        status=1
    fi
done
exit "$status"
