FROM python:3.11-slim
WORKDIR /app
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
COPY pyproject.toml README.md ./
# tools/ (the data generator: seed_data, check_book, load_demo) stays out of the image; settings
# register its app only where it is installed.
COPY src ./src
COPY manage.py ./
RUN pip install --no-cache-dir .
# Static files are built into the image (whitenoise serves them compressed, with hashed names).
RUN APP_ENV=development DATABASE_URL=postgresql://build@localhost/build python manage.py collectstatic --no-input
EXPOSE 8000
CMD ["granian", "--interface", "wsgi", "--host", "0.0.0.0", "--port", "8000", "--workers", "2", "--blocking-threads", "2", "--workers-kill-timeout", "10", "config.wsgi:application"]
