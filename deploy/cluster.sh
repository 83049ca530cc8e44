#!/usr/bin/env bash
# Starts, stops and inspects a local stretchlogd cluster on loopback:
#   deploy/cluster.sh start|stop|status|bootstrap|kill|restart DIR [options]
# See deploy/cluster.py (this script's implementation) for every option.
exec python3 "$(dirname "$0")/cluster.py" "$@"
