# The makerwatch command (ingest, broker provisioning and tools) for docker-compose.yml.
FROM python:3.11-slim
# Pango and a font with Kazakh letters for the PDF report; mosquitto for mosquitto_passwd,
# which `makerwatch broker provision` uses to hash the broker's passwords.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core mosquitto \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml ./
COPY makerwatch ./makerwatch
COPY firmware ./firmware
RUN pip install --no-cache-dir . && rm -rf /root/.cache
RUN mkdir /spool && chown nobody /spool
USER nobody
ENTRYPOINT ["makerwatch"]
