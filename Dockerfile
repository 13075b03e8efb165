# The standalone image: no Home Assistant needed. Every WYOMING_TTS_* variable is honoured (the
# image sets only defaults), flags pass through to the server, and so do subcommands:
#   docker run -p 10200:10200 -v wyoming-tts:/data IMAGE --voice marius
#   docker run -e WYOMING_TTS_VOICE=marius -p 10200:10200 -v wyoming-tts:/data IMAGE
#   docker run -v wyoming-tts:/data IMAGE download --model english
# The same Debian release and Python as the app (trixie, 3.13); dependencies pinned by
# addon/constraints.txt (script/update-constraints); runs as a user of its own, not root.
# Build arguments any builder may set (script/check-images builds it with its own base and torch):
#   BUILD_FROM       the base: Debian with Python 3 (default the official Python image)
#   TORCH_INDEX_URL  where torch's CPU build comes from (default PyTorch's CPU index)
ARG BUILD_FROM=python:3.13-slim-trixie
FROM ${BUILD_FROM}

ARG WYOMING_TTS_VERSION=0.4.0
ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu

SHELL ["/bin/bash", "-o", "pipefail", "-c"]

RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 libsndfile1 \
    && apt-get clean \
    && rm -rf /var/lib/apt/lists/* \
    && python3 -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir --no-compile --no-deps \
        --index-url "${TORCH_INDEX_URL}" "torch==${TORCH_VERSION}"

COPY addon/constraints.txt /tmp/constraints.txt
COPY pyproject.toml README.md /src/
COPY wyoming_tts /src/wyoming_tts
# sympy, mpmath and networkx are torch's for torch.compile, which the server never runs; the
# bytecode is written for what the server imports (wyoming_tts/bytecode.py), which the build
# therefore proves importable.
RUN /opt/venv/bin/pip install --no-cache-dir --no-compile --constraint /tmp/constraints.txt \
        "torch==${TORCH_VERSION}" /src \
    && /opt/venv/bin/pip uninstall --yes --quiet sympy mpmath networkx \
    && /opt/venv/bin/python -m wyoming_tts.bytecode \
    && /opt/venv/bin/wyoming-tts --version | grep -qx "${WYOMING_TTS_VERSION}" \
    && rm -rf /src /tmp/constraints.txt \
    && useradd --system --uid 10200 --home-dir /data --shell /usr/sbin/nologin wyoming \
    && mkdir -p /data \
    && chown wyoming /data
COPY docker/entrypoint.sh /usr/local/bin/docker-entrypoint.sh

ENV PATH="/opt/venv/bin:${PATH}" \
    HF_HOME=/data/huggingface \
    HF_HUB_DISABLE_TELEMETRY=1 \
    WYOMING_TTS_URI=tcp://0.0.0.0:10200 \
    WYOMING_TTS_DATA_DIR=/data
USER wyoming
WORKDIR /data
VOLUME /data
EXPOSE 10200

# A Describe/Info round trip on the port of WYOMING_TTS_URI, not a bare port check.
HEALTHCHECK --start-period=15m --interval=30s --timeout=15s --retries=3 \
    CMD wyoming-tts health || exit 1

ENTRYPOINT ["docker-entrypoint.sh"]
CMD []
