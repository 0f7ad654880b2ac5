#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The mod_aoproxy authors (LICENSE)
# Every AOPLOGNO(n) in the sources is used once and documented in docs/error-codes.md,
# and every message at debug level or above carries one.
set -eu
top="${AOP_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}"
cd "$top"
codes=$(grep -rhoE 'AOPLOGNO\([0-9]{5}\)' mod_aoproxy.c src | sed -E 's/.*\(([0-9]+)\)/\1/' | sort)
dups=$(printf '%s\n' "$codes" | uniq -d)
fail=0
if [ -n "$dups" ]; then
    echo "duplicate log codes: $dups"; fail=1
fi
for c in $codes; do
    grep -q "AOP$c" docs/error-codes.md || { echo "AOP$c is not documented in docs/error-codes.md"; fail=1; }
done
# A log call at debug or above without a code: ap_log_*error(APLOG_MARK, APLOG_<LEVEL>, ...
# followed (within the call) by no AOPLOGNO.
untagged=$(awk '
    /ap_log_(r|c|p)?error\(APLOG_MARK/ { call = $0; file = FILENAME; line = FNR; open = 1; next_check = 1 }
    open && !/ap_log_(r|c|p)?error\(APLOG_MARK/ { call = call $0 }
    open && /;[[:space:]]*$/ {
        if (call !~ /APLOG_TRACE/ && call !~ /AOPLOGNO/ && call !~ /"%s", msg/) print file ":" line
        open = 0
    }' mod_aoproxy.c src/*.c)
if [ -n "$untagged" ]; then
    echo "log messages at debug or above without an AOPLOGNO code:"; echo "$untagged"; fail=1
fi
n=$(printf '%s\n' "$codes" | grep -c . || true)
if [ "$fail" -eq 0 ]; then
    echo "log codes: $n used, all unique and documented"
fi
exit $fail
