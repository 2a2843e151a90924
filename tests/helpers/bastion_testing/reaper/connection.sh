#!/bin/sh
# One client connection of the reaper (reaper.sh): standard input and output are the socket.
state=/tmp/reaper
socket=/var/run/docker.sock
me=$$
touch "$state/connections/$me"
while IFS= read -r line; do
    line=$(printf '%s' "$line" | tr -d '\r')
    [ -n "$line" ] || continue
    printf '%s\n' "$line" >>"$state/filters/$me"
    echo ACK
done
rm -f "$state/connections/$me"

timeout=${RYUK_RECONNECTION_TIMEOUT:-10s}
sleep "${timeout%s}"
[ -z "$(ls "$state/connections")" ] || exit 0  # a client came back: it keeps them
[ ! -e "$state/done" ] || exit 0

api() {  # METHOD PATH: the answer's body (HTTP/1.0: the server closes when done)
    printf '%s %s HTTP/1.0\r\nHost: docker\r\nContent-Length: 0\r\n\r\n' "$1" "$2" |
        unixcat "$socket" | sed '1,/^\r*$/d'
}
encode() {  # every byte percent-encoded: safe in a query string
    printf '%s' "$1" | od -An -v -tx1 | tr -d ' \n' | sed 's/../%&/g'
}
ids() {
    grep -o '"Id": *"[0-9a-f]*"' | sed 's/.*"\([0-9a-f]*\)"$/\1/'
}

cat "$state"/filters/* 2>/dev/null | sort -u | while IFS= read -r line; do
    json=""
    for filter in $(printf '%s' "$line" | tr '&' ' '); do
        key=${filter%%=*}
        value=${filter#*=}
        json="$json${json:+,}\"$key\":[\"$value\"]"
    done
    filters=$(encode "{$json}")
    for id in $(api GET "/containers/json?all=1&filters=$filters" | ids); do
        api DELETE "/containers/$id?force=1&v=1" >/dev/null
        echo "reaper: removed container $id"
    done
    for id in $(api GET "/networks?filters=$filters" | ids); do
        api DELETE "/networks/$id" >/dev/null
        echo "reaper: removed network $id"
    done
    api POST "/volumes/prune?filters=$filters" >/dev/null
    api POST "/images/prune?filters=$(encode "{$json,\"dangling\":[\"false\"]}")" >/dev/null
done
touch "$state/done"
