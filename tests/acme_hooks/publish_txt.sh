#!/bin/sh
# DNS-01 hooks for the ACME client tests: publish or remove a TXT record through the test DNS server's control
# endpoint (tests/e2e/acme_env.py DnsControl; the same API as pebble-challtestsrv's /set-txt and /clear-txt),
# whose address is in ACME_TEST_DNS_CONTROL.
#   certbot:  --manual-auth-hook "publish_txt.sh certbot-auth"  --manual-cleanup-hook "publish_txt.sh certbot-cleanup"
#             (certbot sets CERTBOT_DOMAIN and CERTBOT_VALIDATION)
#   lego:     --dns exec with EXEC_PATH=publish_txt.sh: lego runs it as `publish_txt.sh present|cleanup FQDN VALUE`
set -eu
: "${ACME_TEST_DNS_CONTROL:?set by the test}"
case "$1" in
  certbot-auth)    action=set-txt;   host="_acme-challenge.${CERTBOT_DOMAIN}."; value="$CERTBOT_VALIDATION" ;;
  certbot-cleanup) action=clear-txt; host="_acme-challenge.${CERTBOT_DOMAIN}."; value="$CERTBOT_VALIDATION" ;;
  present)         action=set-txt;   host="$2"; value="$3" ;;
  cleanup)         action=clear-txt; host="$2"; value="$3" ;;
  timeout)         echo '{"timeout": 30, "interval": 1}'; exit 0 ;;
  *) echo "publish_txt.sh: unknown action $1" >&2; exit 2 ;;
esac
curl -fsS -X POST -H 'Content-Type: application/json' \
  -d "{\"host\": \"${host}\", \"value\": \"${value}\"}" "${ACME_TEST_DNS_CONTROL}/${action}"
