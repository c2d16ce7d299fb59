#!/bin/bash
# docker-compose.yml: Keycloak's own role and database in the stack's PostgreSQL, created on the
# first start of an empty data volume (the image runs /docker-entrypoint-initdb.d once).
set -euo pipefail
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres <<SQL
create role keycloak login password '${KEYCLOAK_DB_PASSWORD}';
create database keycloak owner keycloak;
SQL
