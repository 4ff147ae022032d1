#!/usr/bin/env bash
# Runs once, when the db volume is initialised (the postgres image runs the files of
# /docker-entrypoint-initdb.d on an empty data directory only; see docs/deploy.md to apply it
# to an existing volume). Creates the MLflow and Airflow databases beside OutageCast's own
# (POSTGRES_DB), and a read-only role for Grafana that can read OutageCast's tables only.
set -euo pipefail

: "${MLFLOW_DB:?}" "${AIRFLOW_DB:?}" "${GRAFANA_DB_USER:?}" "${GRAFANA_DB_PASSWORD:?}"

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v owner="$POSTGRES_USER" -v app_db="$POSTGRES_DB" \
    -v mlflow_db="$MLFLOW_DB" -v airflow_db="$AIRFLOW_DB" \
    -v reader="$GRAFANA_DB_USER" -v reader_password="$GRAFANA_DB_PASSWORD" <<'SQL'
CREATE DATABASE :"mlflow_db" OWNER :"owner";
CREATE DATABASE :"airflow_db" OWNER :"owner";
REVOKE CONNECT ON DATABASE :"mlflow_db" FROM PUBLIC;
REVOKE CONNECT ON DATABASE :"airflow_db" FROM PUBLIC;

CREATE ROLE :"reader" LOGIN PASSWORD :'reader_password';
GRANT CONNECT ON DATABASE :"app_db" TO :"reader";
GRANT USAGE ON SCHEMA public TO :"reader";
-- Tables are created later by `outagecast migrate` (as the owner): grant on those too.
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public GRANT SELECT ON TABLES TO :"reader";
SQL
