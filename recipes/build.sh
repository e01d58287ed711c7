#!/usr/bin/env bash
# Build the recipe images on the local Docker daemon: all of them, or those named.
#
#   recipes/build.sh                      # openmpi-ring mpich-ring mpi4py-pingpong lammps
#   recipes/build.sh mpich-ring lammps
#
# Each image is tagged shipyard/<recipe>:latest. The build context is this directory, so
# every Dockerfile can COPY the shared sources under common/ (ring.c, sshd_config).
# DOCKER_BUILDKIT=0: the classic builder needs no buildx plugin.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
all=(openmpi-ring mpich-ring mpi4py-pingpong lammps)
(($#)) || set -- "${all[@]}"

for recipe in "$@"; do
  dockerfile="$here/$recipe/docker/Dockerfile"
  if [[ ! -f $dockerfile ]]; then
    echo "build.sh: no recipe '$recipe' (known: ${all[*]})" >&2
    exit 2
  fi
done

for recipe in "$@"; do
  tag="shipyard/$recipe:latest"
  start=$SECONDS
  echo "== building $tag"
  DOCKER_BUILDKIT=0 docker build -f "$here/$recipe/docker/Dockerfile" -t "$tag" "$here"
  size=$(docker image inspect -f '{{.Size}}' "$tag")
  echo "== built $tag in $((SECONDS - start))s, $((size / 1000000)) MB"
done
