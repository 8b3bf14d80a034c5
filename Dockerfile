# One image for web and workers; the GPU worker runs it on a host with the NVIDIA container runtime.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update && apt-get install -y --no-install-recommends nodejs npm libgl1 libglib2.0-0 \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY requirements.txt requirements-gpu.txt ./
# GPU=1 (the compose file's gpu-worker) swaps ONNX Runtime's CPU build for its CUDA build.
ARG GPU=0
RUN pip install -r requirements.txt \
    && if [ "$GPU" = "1" ]; then pip uninstall -y onnxruntime && pip install -r requirements-gpu.txt; fi
COPY frontend/package.json frontend/package-lock.json* frontend/
RUN if [ -f frontend/package.json ]; then cd frontend && npm ci --no-audit --no-fund; fi
COPY . .
RUN if [ -f frontend/package.json ]; then cd frontend && npm run build; fi \
    && DJANGO_DEBUG=1 python manage.py collectstatic --noinput -v0
EXPOSE 8000
CMD ["gunicorn", "webapp.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--threads", "2", "--timeout", "300"]
