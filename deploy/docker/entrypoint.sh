#!/bin/sh
# Entry point of the OutageCast image. umask 002 keeps new files group-writable: this image
# and the Airflow image run as uid 50000 with group 0 and share the data and var volumes.
set -eu
umask 0002
exec "$@"
