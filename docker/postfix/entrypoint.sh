#!/bin/bash
# Starts Postfix in the foreground (PID 1 is postfix's master), logging to stdout.
# XCLIENT_HOSTS (compose sets it to the backend network's subnet) replaces smtpd_authorized_xclient_hosts.
set -euo pipefail
if [[ -n "${XCLIENT_HOSTS:-}" ]]; then
    postconf -e "smtpd_authorized_xclient_hosts = ${XCLIENT_HOSTS}"
fi
postmap -q probe@example.test regexp:/etc/postfix/vmailbox.regexp >/dev/null
postfix check
exec postfix start-fg
