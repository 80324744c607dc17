# The makerwatch command (ingest and tools) for docker-compose.yml.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml ./
COPY makerwatch ./makerwatch
COPY firmware ./firmware
RUN pip install --no-cache-dir . && rm -rf /root/.cache
RUN mkdir /spool && chown nobody /spool
USER nobody
ENTRYPOINT ["makerwatch"]
