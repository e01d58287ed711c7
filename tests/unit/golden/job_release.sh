set -o pipefail; ( echo "released $AZ_BATCH_JOB_ID" # it's done
)
__shipyard_rc=$?; docker ps -aq --filter label=shipyard.job=osu-allreduce | xargs -r docker rm -f -v >/dev/null || { [ "$__shipyard_rc" -ne 0 ] || __shipyard_rc=1; }; rm -rf -- "$(dirname -- "$AZ_BATCH_TASK_DIR")"/*/.shipyard-ssh || { [ "$__shipyard_rc" -ne 0 ] || __shipyard_rc=1; }; exit "$__shipyard_rc"
