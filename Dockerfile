# One image for both services of docker-compose.yml: the web app (gunicorn, the default
# command) and the captioning worker (`python worker.py`).
FROM python:3.13-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    # VGG16 encoder weights, prepared at build time (below) so containers start offline.
    CAPTIONER_CACHE=/opt/photocaption-cache \
    # The generated SECRET_KEY (when none is given) lives here: mount a volume on it.
    INSTANCE_PATH=/app/instance

WORKDIR /app

# Dependencies first: this layer is rebuilt only when the pins change.
COPY requirements.txt ./
RUN pip install -r requirements.txt

COPY . .
RUN pip install --no-deps -e . \
 && python -m captioner prepare-encoder \
 && useradd --create-home --uid 10001 app \
 && mkdir -p /app/instance \
 && chown app /app/instance

USER app
EXPOSE 5000
CMD ["gunicorn", "--bind", "0.0.0.0:5000", "--workers", "2", "--threads", "4", \
     "--timeout", "60", "--access-logfile", "-", "photoshare:create_app()"]
