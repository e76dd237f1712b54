#!/usr/bin/env bash
# generate.sh wipes every package generated from the API specs in this folder
# and rebuilds it with go-swagger. Run it through `make generate`, which builds
# the pinned go-swagger and passes it in $SWAGGER. See README.md for the layout.
set -euo pipefail

readonly want_swagger_version="v0.36.7"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

if [[ -z "${SWAGGER:-}" ]]; then
  echo "generate.sh: set SWAGGER to the go-swagger ${want_swagger_version} binary (make generate does)" >&2
  exit 1
fi
swagger_version="$("$SWAGGER" version 2>&1 || true)"
if [[ "$swagger_version" != *"version: ${want_swagger_version}"$'\n'* ]]; then
  echo "generate.sh: $SWAGGER is not go-swagger ${want_swagger_version}:" >&2
  printf '%s\n' "$swagger_version" >&2
  exit 1
fi

module="$(go list -m)"
readonly models_dir="sdk/restapi/models"
readonly models_pkg="${module}/${models_dir}"
readonly client_dir="sdk/restapi/client"
readonly management_client_dir="sdk/restapi/management"
readonly server_root="controller/internal/restserver"
readonly client_server_pkg="clientapi"
readonly management_server_pkg="managementapi"

log() { printf 'generate: %s\n' "$*" >&2; }

# swagger_quiet runs go-swagger and shows its output only when it fails.
swagger_quiet() {
  local out
  if ! out="$("$SWAGGER" "$@" 2>&1)"; then
    printf '%s\n' "$out" >&2
    echo "generate.sh: swagger $* failed" >&2
    return 1
  fi
}

# Work space for the per-spec model runs. It must lie inside the module
# (go-swagger derives package paths from it); the leading dot keeps the go
# tool from ever seeing it as a package.
work="$(mktemp -d "${root}/.generate.XXXXXX")"
trap 'rm -rf "$work"' EXIT

log "validating specs"
swagger_quiet validate specs/shared.yml
swagger_quiet validate specs/client.yml
# While management.yml is being written it may be missing or invalid; the
# management API is then left out with a warning.
with_management=1
if [[ ! -f specs/management.yml ]]; then
  log "WARNING: specs/management.yml is missing; skipping the management API"
  with_management=0
elif ! swagger_quiet validate specs/management.yml; then
  log "WARNING: specs/management.yml does not validate; skipping the management API"
  with_management=0
fi
specs=(shared client)
if ((with_management)); then specs+=(management); fi

log "removing generated packages"
rm -rf "$models_dir" "$client_dir" "$management_client_dir" \
  "${server_root:?}/${client_server_pkg}" "${server_root:?}/${management_server_pkg}"

# Each API spec is flattened into one standalone document first. Minimal
# flattening imports each `shared.yml#/definitions/x` under its own name x, so
# a shared definition becomes one model type whichever spec refers to it. The
# servers embed the document they are generated from and the runtime binds
# requests with it, so it must not refer to other files.
common_flags=(--quiet --with-flatten=minimal)
flatten() {
  local spec="$1"
  swagger_quiet flatten "${common_flags[@]}" --format=json \
    --output="${work}/${spec}.json" "specs/${spec}.yml"
  if grep -q '"\$ref": *"[^#]' "${work}/${spec}.json"; then
    echo "generate.sh: flattened ${spec}.yml still refers to another file" >&2
    return 1
  fi
}
log "flattening specs"
flatten client
if ((with_management)); then flatten management; fi

# 1. Models. Each spec's definitions (with the shared ones it imports) are
# generated on their own, then merged into one package. A file produced by two
# runs must be byte-identical: a difference means one definition name is
# declared twice with different content, which would silently pick a winner.
merge_models() {
  local from="$1" spec="$2" file name
  for file in "$from"/*.go; do
    name="$(basename "$file")"
    if [[ -e "${models_dir}/${name}" ]]; then
      if ! cmp -s "$file" "${models_dir}/${name}"; then
        echo "generate.sh: ${spec} declares a definition that clashes with another spec (models/${name});" >&2
        echo "  declare it once, in shared.yml, and refer to it from both specs" >&2
        return 1
      fi
      continue
    fi
    cp "$file" "${models_dir}/${name}"
  done
}

mkdir -p "$models_dir" "$server_root"
for spec in "${specs[@]}"; do
  log "models from ${spec}.yml"
  mkdir -p "${work}/${spec}"
  input="${work}/${spec}.json"
  if [[ "$spec" == shared ]]; then input=specs/shared.yml; fi
  swagger_quiet generate model "${common_flags[@]}" \
    --spec="$input" --target="${work}/${spec}" --model-package=models
  merge_models "${work}/${spec}/models" "specs/${spec}.yml"
done

# 2. Clients, over the shared models package.
log "client of the client API"
swagger_quiet generate client "${common_flags[@]}" \
  --spec="${work}/client.json" --target=sdk/restapi --name=EdgeClient \
  --client-package=client --skip-models --existing-models="$models_pkg"
if ((with_management)); then
  log "client of the management API"
  swagger_quiet generate client "${common_flags[@]}" \
    --spec="${work}/management.json" --target=sdk/restapi --name=EdgeManagement \
    --client-package=management --skip-models --existing-models="$models_pkg"
fi

# 3. Servers. Handlers are hand-written in controller/api and assigned to the
# API struct returned by operations.NewXxxAPI; nothing calls the generated
# configureAPI, so its file is generated like every other one.
generate_server() {
  local spec="$1" name="$2" pkg="$3"
  swagger_quiet generate server "${common_flags[@]}" \
    --spec="${work}/${spec}.json" --target="$server_root" --name="$name" \
    --server-package="$pkg" --exclude-main --flag-strategy=flag \
    --skip-models --existing-models="$models_pkg"
  # go-swagger marks the configure file as hand-editable and gives it a
  # //go:generate line that would regenerate with an unpinned binary and other
  # flags. Here it is regenerated like the rest, so mark it generated.
  local configure
  configure="$(echo "${server_root}/${pkg}"/configure_*.go)"
  if ! grep -q '^// This file is safe to edit' "$configure" || ! grep -q '^//go:generate ' "$configure"; then
    echo "generate.sh: unexpected header in ${configure}; check the go-swagger version" >&2
    return 1
  fi
  sed -i -e 's|^// This file is safe to edit.*$|// Code generated by go-swagger; DO NOT EDIT.|' -e '/^\/\/go:generate /d' "$configure"
}
log "server of the client API"
generate_server client EdgeClient "$client_server_pkg"
generated=("$models_dir" "$client_dir" "${server_root}/${client_server_pkg}")
if ((with_management)); then
  log "server of the management API"
  generate_server management EdgeManagement "$management_server_pkg"
  generated+=("$management_client_dir" "${server_root}/${management_server_pkg}")
fi

log "gofmt"
gofmt -w "${generated[@]}"

log "go build"
go build $(printf "./%s/... " "${generated[@]}")

log "done"
