# One image for every process of the portal (web, worker, beat, release); see compose.yaml.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app

COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .
# Static files are collected (hashed and compressed) at build time; whitenoise serves them.
# The values below exist only so the production settings load for collectstatic.
RUN DJANGO_ENV=production ALLOWED_HOSTS=build.invalid \
    SECRET_KEY=build-only-not-a-secret-build-only-not-a-secret-build-only \
    PORTAL_SECRET_KEYS=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= \
    PORTAL_VAR_DIR=/tmp/portal-build \
    python manage.py collectstatic --no-input -v 0 \
 && rm -rf /tmp/portal-build \
 && useradd --system --uid 10001 --home-dir /app portal \
 && mkdir -p /app/var && chown portal /app/var

USER portal
ENV DJANGO_ENV=production PORT=8000 HOST=0.0.0.0 LOG_FORMAT=json
EXPOSE 8000
CMD ["gunicorn", "-c", "gunicorn.conf.py", "casesite.wsgi"]
