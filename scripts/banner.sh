#!/bin/sh
# Printed by `make run` before emberd starts: where it listens and a request that works.
sock=$1
top=$(cd "$(dirname "$0")/.." && pwd)
cat <<MSG
emberd will listen on $sock with the built-in model 'digits'.
In another terminal, classify the sample 8x8 digit (expected answer: $(cat "$top/models/digits/sample.expected")):

  curl -s --unix-socket $sock -H 'Content-Type: application/json' \\
       -d @$top/models/digits/sample.json http://localhost/v2/models/digits/infer

or: $top/build/clients/emberctl --socket $sock infer digits --json $top/models/digits/sample.json --top 1
Stop it with Ctrl-C.
MSG
