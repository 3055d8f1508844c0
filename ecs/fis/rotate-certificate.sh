#!/bin/sh
# Certificate rotation by a Secrets Manager update, the fourth experiment:
# starts certificate-rotation.json (FIS: a 10-minute window with the 5xx stop
# condition), then puts a new workload certificate and key for orders. Each
# task's hawser-tls container rewrites the files within REFRESH_SECONDS and
# hawser reloads them without dropping connections; watch `certificates
# reloaded` in the logs and hawser_tls_handshake_errors_total stay flat.
# FIS has no Secrets Manager action, so this script (no SSM, no Lambda) does the update.
#   ecs/fis/rotate-certificate.sh TEMPLATE_ID NEW_CERT.pem NEW_KEY.pem
set -eu
[ $# -eq 3 ] || { echo "usage: $0 TEMPLATE_ID NEW_CERT.pem NEW_KEY.pem" >&2; exit 2; }
prefix=${SECRET_PREFIX:-shop/orders}
aws fis start-experiment --experiment-template-id "$1" --query experiment.id --output text
aws secretsmanager put-secret-value --secret-id "$prefix/key" --secret-string "file://$3" >/dev/null
aws secretsmanager put-secret-value --secret-id "$prefix/cert" --secret-string "file://$2" >/dev/null
echo "rotated $prefix/cert and $prefix/key; the tasks pick them up within their REFRESH_SECONDS"
