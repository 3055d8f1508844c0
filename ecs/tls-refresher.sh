# The hawser-tls container: copies the workload certificate, its key and the CA
# bundle from three Secrets Manager secrets into the task's shared volume, then
# checks them again every $REFRESH_SECONDS and replaces a file that changed
# (write, then rename: hawser reloads it without dropping a connection).
# Needs secretsmanager:GetSecretValue on the three secrets (the task role).
umask 077
fetch() {  # fetch FILE SECRET_ID: 0 when FILE holds the secret's current value
  value=$(aws secretsmanager get-secret-value --secret-id "$2" --query SecretString --output text) || return 1
  [ "$value" = "$(cat "/tls/$1" 2>/dev/null)" ] && return 0
  printf '%s\n' "$value" >"/tls/.$1" && chown 1337:1337 "/tls/.$1" && mv "/tls/.$1" "/tls/$1" &&
    echo "hawser-tls: wrote $1"
}
while :; do
  if fetch key.pem "$TLS_KEY_SECRET" && fetch cert.pem "$TLS_CERT_SECRET" && fetch ca.pem "$TLS_CA_SECRET"; then
    touch /tls/.ready          # the container's health check: hawser starts once this exists
  else
    echo "hawser-tls: fetching the secrets failed; retrying"
  fi
  sleep "${REFRESH_SECONDS:-60}"
done
