# syntax=docker/dockerfile:1
# Airflow 3 with OutageCast installed: api-server, scheduler (LocalExecutor runs the tasks
# here), dag-processor and airflow-init. The DAGs are baked in and mounted over by compose.
# Build from the repository root:  docker build -f deploy/airflow.Dockerfile -t outagecast-airflow:local .
#
# The slim variant carries Airflow core and its required providers only, so the installed set
# is the one requirements.lock was resolved and tested with (apache-airflow 3.3.2 included).
ARG AIRFLOW_IMAGE=apache/airflow:slim-3.3.2-python3.11
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

# --- wheel: the OutageCast package, built apart from the Airflow image ----------------------
FROM ${PYTHON_IMAGE} AS wheel
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN python -m pip wheel --no-deps --wheel-dir /wheels .

# --- airflow: locked dependencies first, then the wheel -------------------------------------
FROM ${AIRFLOW_IMAGE} AS airflow
ARG AIRFLOW_VERSION=3.3.2
USER 0
# libgomp1: OpenMP runtime that LightGBM's wheel links against.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 \
    && apt-get clean \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /srv/outagecast/data /srv/outagecast/var /opt/airflow/auth /opt/outagecast/bin \
    && chown -R airflow:0 /srv/outagecast /opt/airflow/auth /opt/outagecast \
    && chmod -R g=u /srv/outagecast /opt/airflow/auth /opt/outagecast
# 50000:0 is the image's "airflow" user.
USER 50000:0
# Dependency layer: OutageCast's runtime and Airflow dependencies from pyproject.toml, at the
# versions of requirements.lock, with Airflow itself held at the image's version.
COPY --chown=airflow:0 pyproject.toml requirements.lock /opt/outagecast/
RUN python -c "import tomllib; p = tomllib.load(open('/opt/outagecast/pyproject.toml', 'rb'))['project']; \
print('\n'.join(p['dependencies'] + p['optional-dependencies']['airflow']))" \
        > /opt/outagecast/requirements.txt \
    && pip install --no-cache-dir "apache-airflow==${AIRFLOW_VERSION}" \
        -r /opt/outagecast/requirements.txt -c /opt/outagecast/requirements.lock
# Source layer: the package without its dependencies (installed above).
COPY --from=wheel /wheels /opt/outagecast/wheels
RUN pip install --no-cache-dir --no-deps /opt/outagecast/wheels/*.whl
COPY --chown=airflow:0 dags /opt/airflow/dags
COPY --chmod=0755 deploy/docker/healthcheck.py /usr/local/bin/healthcheck
COPY --chmod=0755 deploy/airflow/init.sh /opt/outagecast/bin/airflow-init
ENV OUTAGECAST_HOME=/srv/outagecast \
    DATA_DIR=/srv/outagecast/data \
    VAR_DIR=/srv/outagecast/var \
    MLFLOW_DISABLE_TELEMETRY=true \
    DO_NOT_TRACK=true \
    SCARF_ANALYTICS=false \
    GX_ANALYTICS_ENABLED=false \
    AIRFLOW__CORE__LOAD_EXAMPLES=false
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=5 \
    CMD ["healthcheck", "http://127.0.0.1:8080/api/v2/version"]
