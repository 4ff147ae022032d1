#!/usr/bin/env bash
# airflow-init (one-off, before the other Airflow services): migrate Airflow's metadata
# database and (re)write the admin's password for the simple auth manager from the
# environment, so that changing AIRFLOW_ADMIN_PASSWORD in .env and re-running `up` applies it.
set -euo pipefail

: "${AIRFLOW_ADMIN_USER:?AIRFLOW_ADMIN_USER is not set}"
: "${AIRFLOW_ADMIN_PASSWORD:?AIRFLOW_ADMIN_PASSWORD is not set}"
: "${AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE:?the passwords file is not configured}"

airflow db migrate

umask 0077
python - <<'PY'
import json
import os
from pathlib import Path

path = Path(os.environ["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"])
path.parent.mkdir(parents=True, exist_ok=True)
tmp = path.with_suffix(".tmp")
tmp.write_text(json.dumps({os.environ["AIRFLOW_ADMIN_USER"]: os.environ["AIRFLOW_ADMIN_PASSWORD"]}) + "\n")
tmp.replace(path)
PY
echo "airflow-init: metadata database at head; password set for ${AIRFLOW_ADMIN_USER}" >&2
