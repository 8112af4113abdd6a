#!/usr/bin/env bash
# Runs every test with the race detector, and each fuzz target briefly.
set -euo pipefail
cd "$(dirname "$0")"
go test -race -count=1 -timeout 8m ./...
