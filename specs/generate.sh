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
readonly server_root="controller/internal/restserver"
# The generated folders; everything in them is rebuilt.
readonly generated=(
  "$models_dir"
  sdk/restapi/client
  sdk/restapi/management
  "${server_root}/clientapi"
  "${server_root}/managementapi"
)

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

# Scratch space. It must lie inside the module (go-swagger derives package
# paths from its target); the leading dot keeps the go tool away from it.
work="$(mktemp -d "${root}/.generate.XXXXXX")"
trap 'rm -rf "$work"' EXIT

log "validating specs"
for spec in shared client management; do
  swagger_quiet validate "specs/${spec}.yml"
done

log "removing generated packages"
rm -rf "${generated[@]}"
mkdir -p "$models_dir" "$server_root"

# Flags every go-swagger run shares. Minimal flattening imports each
# `shared.yml#/definitions/x` under its own name x, so a shared definition
# becomes one model type whichever spec refers to it.
common_flags=(--quiet --with-flatten=minimal)

# Each API spec is first flattened into one standalone document, which the
# rest is generated from: the servers embed that document and the runtime
# binds requests with it, so it must not refer to another file.
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
flatten management

# 1. Models. shared.yml and each flattened spec are generated on their own,
# then merged into one package. A file produced by two runs must be
# byte-identical: a difference means one definition name is declared twice
# with different content, and one of them would silently win.
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
for spec in shared client management; do
  log "models from ${spec}.yml"
  input="${work}/${spec}.json"
  if [[ "$spec" == shared ]]; then input=specs/shared.yml; fi
  mkdir -p "${work}/${spec}"
  swagger_quiet generate model "${common_flags[@]}" \
    --spec="$input" --target="${work}/${spec}" --model-package=models
  merge_models "${work}/${spec}/models" "specs/${spec}.yml"
done

# 2. Clients, over the shared models package.
generate_client() {
  local spec="$1" name="$2" pkg="$3"
  swagger_quiet generate client "${common_flags[@]}" \
    --spec="${work}/${spec}.json" --target=sdk/restapi --name="$name" \
    --client-package="$pkg" --skip-models --existing-models="$models_pkg"
}
log "client of the client API"
generate_client client EdgeClient client
log "client of the management API"
generate_client management EdgeManagement management

# 3. Servers. Handlers are hand-written in controller/api and assigned to the
# API struct that operations.NewXxxAPI returns; nothing calls the generated
# configureAPI.
generate_server() {
  local spec="$1" name="$2" pkg="$3"
  swagger_quiet generate server "${common_flags[@]}" \
    --spec="${work}/${spec}.json" --target="$server_root" --name="$name" \
    --server-package="$pkg" --exclude-main --flag-strategy=flag \
    --skip-models --existing-models="$models_pkg"
  # go-swagger writes the configure file as hand-editable, with a
  # //go:generate line that would regenerate with an unpinned binary and other
  # flags. Here it is regenerated like every other file: mark it so.
  local configure
  configure="$(echo "${server_root}/${pkg}"/configure_*.go)"
  if ! grep -q '^// This file is safe to edit' "$configure" || ! grep -q '^//go:generate ' "$configure"; then
    echo "generate.sh: unexpected header in ${configure}; check the go-swagger version" >&2
    return 1
  fi
  sed -i -e 's|^// This file is safe to edit.*$|// Code generated by go-swagger; DO NOT EDIT.|' \
    -e '/^\/\/go:generate /d' "$configure"
  # server.go is a standalone HTTP server that registers command-line flags
  # in init(); two of them in one binary panic, and the controller serves the
  # handlers on its own listener, so it is not kept.
  rm -f "${server_root}/${pkg}/server.go"
}
log "server of the client API"
generate_server client EdgeClient clientapi
log "server of the management API"
generate_server management EdgeManagement managementapi

log "gofmt"
gofmt -w "${generated[@]}"

log "go build"
packages=()
for dir in "${generated[@]}"; do packages+=("./${dir}/..."); done
go build "${packages[@]}"

log "done"
