# The bot as a container: `docker compose up` (compose.yaml) runs it with PostgreSQL; see README, "Running in
# production". Tokens and DATABASE_URL come from the environment at run time, never from the image.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# The package first (its layer is rebuilt only when the code changes), then what admins edit.
COPY pyproject.toml README.md ./
COPY bot ./bot
RUN pip install . && rm -rf bot build
COPY faq ./faq
COPY rules ./rules
COPY polls ./polls
COPY config.example.yaml config.docker.yaml ./

# Defaults for the settings config.docker.yaml reads from the environment (override with -e or compose.yaml).
ENV DISCORD_ENABLED=false \
    DISCORD_MOD_CHANNEL_ID=0 \
    DISCORD_MESSAGE_CONTENT=false \
    SLACK_ENABLED=false \
    SLACK_MODE=http \
    SLACK_MOD_CHANNEL=""

# An unprivileged user owns only the data volume (the SQLite file, when storage.url is not set).
RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin bot \
    && mkdir /data && chown bot:bot /data
VOLUME /data
USER bot

# 3000: Slack's HTTP mode (slack.port); 8080: /healthz and /metrics (ops.port in config.docker.yaml).
EXPOSE 3000 8080

# Python's own urllib, so the slim image needs nothing extra; a 503 raises, which fails the check.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4)"]

# SIGTERM (docker stop) shuts the bot down gracefully; exit 1 (a platform lost for good) is for the restart policy.
CMD ["bot", "run", "--config", "/app/config.docker.yaml"]
