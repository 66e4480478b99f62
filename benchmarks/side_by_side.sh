#!/usr/bin/env bash
# Run each argument as a shell command, all of them at once, and wait for
# them. Exits 1 if any command failed, after naming each failed command.
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
        echo "side_by_side.sh: command failed: ${commands[$index]}" >&2
        status=1
    fi
done
exit "$status"
