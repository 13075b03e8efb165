# The standalone image: no Home Assistant needed. Extra arguments pass through to the server:
#   docker run -p 10200:10200 -v wyoming-tts:/data wyoming-tts --voice marius
FROM python:3.11.14-slim-bookworm

ARG TORCH_VERSION=2.13.0
ARG WYOMING_TTS_VERSION=0.1.0

SHELL ["/bin/bash", "-o", "pipefail", "-c"]

RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 libsndfile1 \
    && rm -rf /var/lib/apt/lists/* \
    && python3 -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir \
        --index-url https://download.pytorch.org/whl/cpu \
        "torch==${TORCH_VERSION}"

WORKDIR /src
COPY pyproject.toml README.md ./
COPY wyoming_tts ./wyoming_tts
RUN /opt/venv/bin/pip install --no-cache-dir . \
    && /opt/venv/bin/wyoming-tts --version | grep -qx "${WYOMING_TTS_VERSION}"

ENV PATH="/opt/venv/bin:${PATH}" \
    HF_HOME=/data/huggingface \
    HF_HUB_DISABLE_TELEMETRY=1
WORKDIR /
VOLUME /data
EXPOSE 10200

# A Describe/Info round trip, not a bare port check. The first start downloads the model.
HEALTHCHECK --start-period=15m --interval=30s --timeout=15s --retries=3 \
    CMD /opt/venv/bin/wyoming-tts health --uri tcp://127.0.0.1:10200 || exit 1

ENTRYPOINT ["wyoming-tts", "--uri", "tcp://0.0.0.0:10200", "--data-dir", "/data"]
CMD []
