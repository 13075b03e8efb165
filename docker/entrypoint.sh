#!/bin/sh
# The standalone image's entrypoint. With no arguments, or with flags, it runs the server;
# every WYOMING_TTS_* variable is honoured (the image sets only defaults). A subcommand passes
# through: `docker run IMAGE download --model english`, `docker run IMAGE health`.
set -eu
case "${1:-}" in
    "" | -*)
        exec wyoming-tts "$@"
        ;;
    wyoming-tts)
        shift
        exec wyoming-tts "$@"
        ;;
    normalize | health | download | export-voice | bench | app)
        exec wyoming-tts "$@"
        ;;
    *)
        exec "$@"
        ;;
esac
