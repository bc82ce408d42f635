#!/bin/sh
# A throwaway CA and one server certificate (ECDSA P-256, "localhost" and 127.0.0.1),
# the same files for every contender: maintgate and nginx take cert and key apart,
# HAProxy one PEM with both.
#   bench/tls/gen-cert.sh DIR
set -eu
dir=${1:?usage: gen-cert.sh DIR}
mkdir -p "$dir"
cd "$dir"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem \
    -days 30 -subj "/CN=maintgate bench CA" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout server.key -out server.csr \
    -subj "/CN=localhost" -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > san.ext
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 \
    -extfile san.ext -out server.pem 2>/dev/null
cat server.pem server.key > server-haproxy.pem
chmod 600 server.key server-haproxy.pem
