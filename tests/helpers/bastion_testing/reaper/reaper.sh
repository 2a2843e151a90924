#!/bin/sh
# A reaper speaking Ryuk's protocol (testcontainers' resource reaper), for the tests: there is
# no Docker Hub to pull testcontainers/ryuk from. TCP 8080: a client sends filter lines
# (`label=KEY=VALUE`, several joined by `&`), each answered `ACK`; once every connection has
# closed and none came back within $RYUK_RECONNECTION_TIMEOUT (default 10s), the containers,
# networks, volumes and images matching each line's filters are removed through the Docker API
# on /var/run/docker.sock, and the reaper exits.
state=/tmp/reaper
mkdir -p "$state/filters" "$state/connections"
nc -ll -p 8080 -e /reaper/connection.sh &
server=$!
echo "reaper: Started!"
while [ ! -e "$state/done" ]; do
    sleep 0.2
done
kill "$server"
echo "reaper: done"
