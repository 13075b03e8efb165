#!/usr/bin/env bash
# A stand-in for bashio in tests: options come from OPT_<name> variables.

bashio::config() {
    local name="OPT_$1"
    if [[ -v ${name} ]]; then
        printf '%s' "${!name}"
    else
        printf 'null'
    fi
}

bashio::config.has_value() {
    local value
    value="$(bashio::config "$1")"
    [[ -n "${value}" && "${value}" != "null" ]]
}

bashio::config.true() {
    [[ "$(bashio::config "$1")" == "true" ]]
}

bashio::log.info() {
    echo "INFO: $*" >&2
}

bashio::log.error() {
    echo "ERROR: $*" >&2
}

bashio::var.json() {
    python3 -c 'import json, sys; a = sys.argv[1:]; print(json.dumps(dict(zip(a[::2], a[1::2]))))' "$@"
}

bashio::discovery() {
    echo "$1 $2" >> "${DISCOVERY_LOG:?}"
}
